import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../core/config-file.js';
import { MeridianError } from '../../core/errors/index.js';
import { PROJECT_ROOT } from '../../core/servers/binaries.js';
import { parseCommandArgs, type Command } from '../../core/command.js';
import { LocalCluster } from './cluster.js';
import { alive, killLeftovers, readPidFile, stillRunning } from './pid-file.js';
import { renderTable, StatusView, type StatusRow } from './status-view.js';
import { describeExit, formatEvent, Supervisor } from './supervisor.js';
import { addressesOf, LocalTopology } from './topology.js';

const DEFAULT_DIR = join(PROJECT_ROOT, '.meridian', 'local');
/** How often the status table re-checks every member's health. */
const STATUS_INTERVAL_MS = 2_000;
/**
 * A second SIGINT this soon after the first is the same Ctrl-C delivered twice (by the
 * terminal to the process group and by a wrapper such as npm that forwards it), not an
 * operator asking to kill.
 */
const SAME_SIGNAL_MS = 500;

const UP_HELP = `meridian up: the whole local multi-region cluster on loopback (what \`npm start\` runs)

Usage: meridian up [-c FILE] [--regions N] [--fresh] [--detach] [--dir DIR]

Options:
  -c, --config FILE  topology file (default deploy/local.yaml)
  --regions N        number of regions, 1 to 4 (default: the file's)
  --fresh            discard the data of earlier runs (routes and other resources added
                     through the API, the demo virtual domain) and start empty
  --detach           start in the background and return once the cluster is up
  --dir DIR          working folder: data, logs, config files (default .meridian/local)
  -h, --help         this text

The cluster keeps its data between runs (etcd and Consul data in DIR/data): what was
added through the controller API is there again after a restart, and the demo virtual
domain keeps its name. Data made with another topology (other regions, addresses) is
refused: start with --fresh.

A program that exits unexpectedly is restarted and said so: after 0.5 s, doubling up to
30 s while it keeps crashing within a minute of its start, left stopped when it still
crashes after 8 such restarts. The status table is kept up to date (redrawn in place on a
terminal, one line per change otherwise).

Ctrl-C (or \`meridian down\`) stops the processes in tiers: gateways (which drain), probers
and DNS first, then the controller and the demo service, then Consul, Redis and etcd. A
second Ctrl-C kills them all at once. Each program writes its own log file in DIR/logs/
(up.log is this command's own lines).
`;

const DOWN_HELP = `meridian down: stops the local cluster started with \`meridian up\` (--detach or not)

Usage: meridian down [--dir DIR]

When that \`meridian up\` is gone (killed), kills the processes it left.
`;

interface Paths {
  dir: string;
  /** Written once the cluster is up: what `up --detach` prints. */
  state: string;
  pids: string;
  upLog: string;
}

function pathsOf(dir: string | undefined): Paths {
  const root = dir === undefined ? DEFAULT_DIR : resolve(dir);
  return { dir: root, state: join(root, 'cluster.json'), pids: join(root, 'pids.json'), upLog: join(root, 'logs', 'up.log') };
}

interface ClusterState {
  pid: number;
  table: string;
  tryCommands: string;
}

function readState(p: Paths): ClusterState {
  return JSON.parse(readFileSync(p.state, 'utf8')) as ClusterState;
}

/** The pid of a live `meridian up` working in this folder, other than us. */
function runningUp(p: Paths): number | undefined {
  const content = readPidFile(p.pids);
  return content && content.up.pid !== process.pid && stillRunning(content.up) ? content.up.pid : undefined;
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
    `Console: http://${a.controller}/ui/ (sign in with the token ${t.admin_token})`,
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

/**
 * Where `up` writes: the terminal (or pipe) and DIR/logs/up.log. The log is appended
 * synchronously, line by line, so it holds every line even when the pipe's reader is gone
 * (under `npm start | tee`, Ctrl-C ends tee too; a write to its pipe then fails, and is
 * ignored rather than ending `up` mid-stop).
 */
function outputs(p: Paths, detachedChild: boolean) {
  mkdirSync(join(p.dir, 'logs'), { recursive: true });
  let stdoutOpen = !detachedChild;
  let stderrOpen = !detachedChild;
  process.stdout.on('error', () => (stdoutOpen = false));
  process.stderr.on('error', () => (stderrOpen = false));
  const toLog = (text: string) => appendFileSync(p.upLog, `${new Date().toISOString()} ${text}\n`);
  const view = new StatusView((text) => {
    if (stdoutOpen) process.stdout.write(text);
  }, process.stdout.isTTY === true && !detachedChild, () => process.stdout.columns);
  return {
    view,
    say(msg: string): void {
      toLog(msg);
      view.line(`[up] ${msg}`);
    },
    sayError(msg: string): void {
      toLog(msg);
      if (stderrOpen) process.stderr.write(`[up] ${msg}\n`);
    },
    /** Text for the terminal only (the table, the commands to try). */
    print(text: string): void {
      view.line(text);
    },
  };
}

async function runForeground(topology: LocalTopology, opts: { paths: Paths; fresh: boolean; detachedChild: boolean }): Promise<number> {
  const { paths, detachedChild } = opts;
  const out = outputs(paths, detachedChild);
  const other = runningUp(paths);
  if (other !== undefined) {
    out.sayError(new MeridianError('MERIDIAN_ERR_CLI_UP_RUNNING', { dir: paths.dir, pid: other }).message);
    return 1;
  }
  const leftovers = await killLeftovers(paths.pids);
  if (leftovers.length) out.say(`killed ${leftovers.length} process(es) an earlier meridian up left running: ${leftovers.join(', ')}`);
  rmSync(paths.state, { force: true });

  let stopping = false;
  const cluster = new LocalCluster(topology, {
    workDir: paths.dir,
    keepData: !opts.fresh,
    ownProcessGroups: true,
    pidFile: paths.pids,
    progress: out.say,
    onExit: (e) => {
      if (stopping || e.requested) out.say(`${e.name} stopped (${describeExit(e.code, e.signal)})`);
    },
  });
  const supervisor = new Supervisor((e) => {
    out.say(formatEvent(e));
    void refresh();
  });

  let refreshing = false;
  /** The table is shown once the cluster is up. */
  let live = false;
  const refresh = async () => {
    if (!live || refreshing || stopping) return;
    refreshing = true;
    try {
      const rows: StatusRow[] = (await cluster.status()).map((r) => {
        const s = supervisor.stateOf(r.name);
        const state = s?.state === 'restarting' || s?.state === 'failed' ? s.state : r.state;
        return { ...r, state, restarts: s?.restarts ?? 0 };
      });
      if (!stopping) out.view.update(rows);
    } finally {
      refreshing = false;
    }
  };
  const ticker = setInterval(() => void refresh(), STATUS_INTERVAL_MS);

  let started: Promise<unknown> = Promise.resolve();
  let firstSignalAt = 0;
  const stop = async (why: string) => {
    const t0 = Date.now();
    clearInterval(ticker);
    supervisor.stop();
    out.view.hide();
    out.say(`${why}: stopping in tiers (a second Ctrl-C kills every process at once)`);
    await cluster.stop((tier, ms) => out.say(`tier ${tier.join(', ')} stopped in ${(ms / 1000).toFixed(1)} s`));
    // A stop during start: what start() had under way when we stopped comes up, then stops.
    await started.catch(() => undefined);
    await cluster.stop();
    rmSync(paths.state, { force: true });
    rmSync(paths.pids, { force: true });
    out.say(`stopped in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  };
  const done = new Promise<void>((resolveDone) => {
    // SIGHUP too (the terminal was closed): the children, in groups of their own, get no hangup.
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(sig, () => {
        if (!stopping) {
          stopping = true;
          firstSignalAt = Date.now();
          void stop(sig).then(resolveDone);
          return;
        }
        if (Date.now() - firstSignalAt < SAME_SIGNAL_MS) return;
        // Do not leave the processes behind by exiting mid-stop.
        out.say(`${sig} again: killing every process now`);
        void cluster.kill().then(() => {
          rmSync(paths.state, { force: true });
          rmSync(paths.pids, { force: true });
          process.exit(130);
        });
      });
    }
  });

  const t0 = Date.now();
  started = cluster.start();
  try {
    await started;
  } catch (err) {
    if (stopping) {
      await done;
      return 0;
    }
    out.sayError(`start failed: ${(err as Error).message}`);
    stopping = true;
    await stop('start failed');
    return 1;
  }
  if (stopping) {
    await done;
    return 0;
  }
  for (const m of cluster.members) supervisor.add(m.name, m.proc);
  const rows: StatusRow[] = (await cluster.status()).map((r) => ({ ...r, restarts: 0 }));
  const commands = tryCommands(cluster);
  out.say(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  out.print(`\n${commands}\n\n${detachedChild ? '' : 'Ctrl-C stops everything.\n'}`);
  out.view.update(rows);
  writeFileSync(paths.state, JSON.stringify({ pid: process.pid, table: renderTable(rows), tryCommands: commands } satisfies ClusterState));
  live = true;
  await done;
  return 0;
}

/** Starts `meridian up` as a detached child and returns once it has written its state file. */
async function runDetached(argv: string[], paths: Paths): Promise<number> {
  const other = runningUp(paths);
  if (other !== undefined) {
    process.stderr.write(`${new MeridianError('MERIDIAN_ERR_CLI_UP_RUNNING', { dir: paths.dir, pid: other }).message}\n`);
    return 1;
  }
  rmSync(paths.state, { force: true });
  mkdirSync(join(paths.dir, 'logs'), { recursive: true });
  // Its own lines go to up.log; stderr too, for what it could not say there.
  const err = openSync(paths.upLog, 'a');
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1] ?? '', 'up', ...argv.filter((a) => a !== '--detach')], {
    detached: true,
    stdio: ['ignore', 'ignore', err],
    env: { ...process.env, MERIDIAN_UP_DETACHED: '1' },
  });
  child.unref();
  process.stdout.write(`[up] starting in the background (pid ${child.pid ?? '?'}), progress in ${paths.upLog}\n`);
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (existsSync(paths.state)) {
      const state = readState(paths);
      process.stdout.write(`${state.table}\n\n${state.tryCommands}\nStop it with: npx meridian down\n`);
      return 0;
    }
    if (child.exitCode !== null) break;
    await sleep(250);
  }
  process.stderr.write(`[up] the cluster did not come up; see ${paths.upLog}\n`);
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
      fresh: { type: 'boolean' },
      detach: { type: 'boolean' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (args.values.help) {
      process.stdout.write(UP_HELP);
      return 0;
    }
    const topology = loadTopology(args.values.config, args.values.regions);
    const paths = pathsOf(args.values.dir);
    if (args.values.detach) return runDetached(argv, paths);
    return runForeground(topology, { paths, fresh: args.values.fresh === true, detachedChild: process.env.MERIDIAN_UP_DETACHED === '1' });
  },
};

export const downCommand: Command = {
  name: 'down',
  summary: 'stop the local cluster started with `meridian up`',
  help: DOWN_HELP,
  async run(argv) {
    const args = parseCommandArgs('down', argv, { dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
    if (args.values.help) {
      process.stdout.write(DOWN_HELP);
      return 0;
    }
    const paths = pathsOf(args.values.dir);
    const pid = runningUp(paths);
    if (pid === undefined) {
      const left = await killLeftovers(paths.pids);
      rmSync(paths.state, { force: true });
      process.stdout.write(left.length ? `meridian up was gone; killed what it left: ${left.join(', ')}\n` : 'no local cluster is up\n');
      return 0;
    }
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (!alive(pid)) {
        process.stdout.write('local cluster stopped\n');
        return 0;
      }
      await sleep(200);
    }
    process.stderr.write(`meridian up (pid ${pid}) did not stop within 60 s\n`);
    return 1;
  },
};
