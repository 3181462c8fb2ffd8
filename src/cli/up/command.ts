import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../core/config-file.js';
import { PROJECT_ROOT } from '../../core/servers/binaries.js';
import { parseCommandArgs, type Command } from '../../core/command.js';
import { LocalCluster } from './cluster.js';
import { addressesOf, LocalTopology } from './topology.js';

const WORK_DIR = join(PROJECT_ROOT, '.meridian', 'local');
const STATE_FILE = join(WORK_DIR, 'cluster.json');

const UP_HELP = `meridian up: the whole local multi-region cluster on loopback (what \`npm start\` runs)

Usage: meridian up [-c FILE] [--regions N] [--detach]

Options:
  -c, --config FILE  topology file (default deploy/local.yaml)
  --regions N        number of regions, 1 to 4 (default: the file's)
  --detach           start in the background and return once the cluster is up
  -h, --help         this text

Ctrl-C (or \`meridian down\` after --detach) stops every process; logs are in .meridian/local/logs/.
`;

interface ClusterState {
  pid: number;
  table: string;
  tryCommands: string;
}

function readState(): ClusterState {
  return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as ClusterState;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function renderTable(rows: Array<Record<string, string | number | undefined>>): string {
  const head = ['name', 'kind', 'region', 'address', 'pid', 'state'];
  const cells = rows.map((r) => head.map((h) => String(r[h] ?? '-')));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i] ?? 0)).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

function tryCommands(cluster: LocalCluster): string {
  const t = cluster.topology;
  const a = addressesOf(t);
  const gw = `${a.gateway(0, 0)}:${t.gateway_port}`;
  const dnsAt = `@${a.dns(0)} -p ${t.dns_port}`;
  return [
    'Try:',
    `  curl -H 'apikey: ${t.demo.key}' http://${gw}${t.demo.route_path}`,
    `  curl -H 'Host: ${t.demo.business_domain}' -H 'apikey: ${t.demo.key}' http://${gw}${t.demo.route_path}/hello`,
    `  dig ${dnsAt} ${t.demo.business_domain} A`,
    cluster.vdomain ? `  dig ${dnsAt} ${cluster.vdomain} A +subnet=${a.cidr(t.regions.length > 1 ? 1 : 0)}` : '',
    `  MERIDIAN_CTL_SERVER=http://${a.controller} MERIDIAN_CTL_TOKEN=${t.admin_token} npx meridian ctl status`,
    `Logs: ${cluster.logDir}`,
  ].filter(Boolean).join('\n');
}

function loadTopology(file: string | undefined, regions: string | undefined): LocalTopology {
  const topology = loadConfig(LocalTopology, file ?? join(PROJECT_ROOT, 'deploy', 'local.yaml'));
  if (regions !== undefined) {
    const n = Number(regions);
    if (!Number.isInteger(n) || n < 1 || n > 4) throw new Error(`--regions must be 1 to 4, got ${regions}`);
    const names = ['east', 'west', 'north', 'south'];
    topology.regions = names.slice(0, n).map((name) => ({ name }));
  }
  if (topology.dns_port < 1024 && process.getuid?.() !== 0) topology.dns_port = 5353;
  return topology;
}

async function runForeground(topology: LocalTopology, detachedChild: boolean): Promise<number> {
  const cluster = new LocalCluster(topology, { workDir: WORK_DIR, progress: (m) => process.stdout.write(`[up] ${m}\n`) });
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) {
      // A second Ctrl-C: do not leave the processes behind by exiting mid-stop.
      process.stdout.write(`\n[up] ${why} again: killing every process now\n`);
      await cluster.kill();
      rmSync(STATE_FILE, { force: true });
      process.exit(130);
    }
    stopping = true;
    process.stdout.write(`\n[up] ${why}: stopping every process...\n`);
    await cluster.stop();
    rmSync(STATE_FILE, { force: true });
    process.stdout.write('[up] stopped\n');
  };
  const done = new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void stop(sig).then(resolve));
  });
  const started = Date.now();
  try {
    await cluster.start();
  } catch (err) {
    process.stderr.write(`[up] start failed: ${(err as Error).message}\n`);
    await stop('start failed');
    return 1;
  }
  const table = renderTable(await cluster.status());
  const commands = tryCommands(cluster);
  process.stdout.write(`\n[up] cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s\n\n${table}\n\n${commands}\n\n${detachedChild ? '' : 'Ctrl-C stops everything.\n'}`);
  mkdirSync(WORK_DIR, { recursive: true });
  writeFileSync(STATE_FILE, JSON.stringify({ pid: process.pid, table, tryCommands: commands } satisfies ClusterState));
  await done;
  return 0;
}

/** Starts `meridian up` as a detached child and returns once it has written its state file. */
async function runDetached(argv: string[]): Promise<number> {
  if (existsSync(STATE_FILE)) {
    if (alive(readState().pid)) {
      process.stderr.write(`a local cluster is already up (${STATE_FILE}); run meridian down first\n`);
      return 1;
    }
    rmSync(STATE_FILE, { force: true }); // left by a run that was killed
  }
  mkdirSync(WORK_DIR, { recursive: true });
  const log = join(WORK_DIR, 'up.log');
  const out = openSync(log, 'w');
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1] ?? '', 'up', ...argv.filter((a) => a !== '--detach')], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, MERIDIAN_UP_DETACHED: '1' },
  });
  child.unref();
  process.stdout.write(`[up] starting in the background (pid ${child.pid ?? '?'}), progress in ${log}\n`);
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (existsSync(STATE_FILE)) {
      const state = readState();
      process.stdout.write(`${state.table}\n\n${state.tryCommands}\nStop it with: npx meridian down\n`);
      return 0;
    }
    if (child.exitCode !== null) break;
    await sleep(250);
  }
  process.stderr.write(`[up] the cluster did not come up; see ${log}\n`);
  return 1;
}

export const upCommand: Command = {
  name: 'up',
  summary: 'the whole local multi-region cluster on loopback',
  help: UP_HELP,
  async run(argv) {
    const args = parseCommandArgs('up', argv, {
      config: { type: 'string', short: 'c' },
      regions: { type: 'string' },
      detach: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (args.values.help) {
      process.stdout.write(UP_HELP);
      return 0;
    }
    const topology = loadTopology(args.values.config, args.values.regions);
    if (args.values.detach) return runDetached(argv);
    return runForeground(topology, process.env.MERIDIAN_UP_DETACHED === '1');
  },
};

export const downCommand: Command = {
  name: 'down',
  summary: 'stop a cluster started with `meridian up --detach`',
  help: 'meridian down: stops the local cluster started with `meridian up --detach`.\n\nUsage: meridian down\n',
  async run(argv) {
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(this.help);
      return 0;
    }
    if (!existsSync(STATE_FILE)) {
      process.stdout.write('no local cluster is up\n');
      return 0;
    }
    const { pid } = readState();
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      rmSync(STATE_FILE, { force: true });
      process.stdout.write('the cluster was not running; state cleared\n');
      return 0;
    }
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (!alive(pid)) {
        process.stdout.write('local cluster stopped\n');
        return 0;
      }
      await sleep(200);
    }
    process.stderr.write(`cluster process ${pid} did not stop within 60 s\n`);
    return 1;
  },
};
