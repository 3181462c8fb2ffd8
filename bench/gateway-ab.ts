/**
 * A/B of gateway builds: nginx as the proxy and one `meridian gateway` (1 worker) per source
 * tree, all in front of the same nginx upstream, wrk -t1 -c50 on each in turn, rounds
 * interleaved (the order reversed every other round). Per contender: user and system CPU per
 * request of its process tree (utime/stime from /proc), per round and the mean of rounds, and the
 * median of per-round ratios against the first tree and against nginx. On a shared machine
 * the ratios of one run are what to read.
 *
 * Each tree must be compiled (`npx tsc -p tsconfig.build.json` in it, so dist/src/cli/main.js
 * exists); make one from a commit with `git archive <commit> | tar -x -C <dir>` plus a
 * node_modules link.
 *
 * Run: npx tsx bench/gateway-ab.ts <rounds> <seconds> <tree> [tree...]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/core/servers/binaries.js';
import { freePort } from '../test/harness/loopback.js';
import { ensureNginx, nginxConf } from './lib/nginx.js';
import { ensureWrk, wrk } from './lib/wrk.js';

const HOST = '127.0.0.1';
const WORK = join(PROJECT_ROOT, '.meridian', 'bench-gateway-ab');
const CLK_TCK_MS = 10; // Linux USER_HZ 100

interface Contender { name: string; url: string; pid: number }
type Sample = { user: number; sys: number };

const procs: ChildProcess[] = [];
function start(cmd: string, args: string[], cwd: string): ChildProcess {
  const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, MERIDIAN_LOG_LEVEL: 'warn' } });
  procs.push(p);
  return p;
}

function startNginx(bin: string, name: string, server: string): ChildProcess {
  const dir = join(WORK, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, server));
  return start(bin, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], dir);
}

/** The pid and its direct children (a gateway's primary and workers). */
function tree(pid: number): number[] {
  const pids = [pid];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** utime and stime (ms) summed over `pids`. */
function cpu(pids: number[]): Sample {
  let user = 0;
  let sys = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user += Number(f[11]) * CLK_TCK_MS;
      sys += Number(f[12]) * CLK_TCK_MS;
    } catch {
      // exited meanwhile
    }
  }
  return { user, sys };
}

async function ready(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready`);
}

async function startGateway(tree: string, index: number, upstreamPort: number): Promise<Contender> {
  const port = await freePort(HOST);
  const adminPort = await freePort(HOST);
  const dir = join(WORK, `gw${index}`);
  mkdirSync(dir, { recursive: true });
  const data = join(dir, 'data.json');
  writeFileSync(data, JSON.stringify({ revision: 1, upstreams: [{ id: 'up', nodes: [{ host: HOST, port: upstreamPort }] }], routes: [{ id: 'api', paths: ['/api/*'], upstream_id: 'up', strip_prefix: '/api' }] }));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, JSON.stringify({ node: { name: `ab${index}`, region: 'bench' }, listen: { http: `${HOST}:${port}` }, admin: { listen: `${HOST}:${adminPort}` }, workers: 1, drain: { grace_ms: 0, timeout_ms: 2_000 }, config: { source: 'file', file: data, snapshot_file: join(dir, 'snapshot.json') } }));
  const p = start(process.execPath, [join(tree, 'dist', 'src', 'cli', 'main.js'), 'gateway', '-c', file], tree);
  return { name: `gw${index} (${tree})`, url: `http://${HOST}:${port}/api/hello`, pid: p.pid as number };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function main(): Promise<void> {
  const [roundsArg, secondsArg, ...trees] = process.argv.slice(2);
  const rounds = Number(roundsArg);
  const seconds = Number(secondsArg);
  if (!(rounds > 0) || !(seconds > 0) || trees.length === 0) {
    process.stderr.write('usage: npx tsx bench/gateway-ab.ts <rounds> <seconds> <tree> [tree...]\n');
    process.exitCode = 2;
    return;
  }
  await ensureWrk();
  const nginx = await ensureNginx();
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  try {
    const up = await freePort(HOST);
    startNginx(nginx, 'upstream', `  server { listen ${HOST}:${up}; location / { default_type text/plain; return 200 "hello world\\n"; } }`);
    const nx = await freePort(HOST);
    const proxy = startNginx(nginx, 'nginx-proxy', `  upstream up { server ${HOST}:${up}; keepalive 64; }
  server { listen ${HOST}:${nx}; location /api/ { proxy_pass http://up/; proxy_http_version 1.1; proxy_set_header Connection ""; } }`);
    const contenders: Contender[] = [{ name: 'nginx', url: `http://${HOST}:${nx}/api/hello`, pid: proxy.pid as number }];
    for (const [i, t] of trees.entries()) contenders.push(await startGateway(t, i, up));
    for (const c of contenders) await ready(c.url);
    for (const c of contenders) await wrk(c.url, { durationS: 2 }); // warm-up (JIT, pools)
    const per = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const c of round % 2 === 0 ? contenders : [...contenders].reverse()) {
        const pids = tree(c.pid);
        const before = cpu(pids);
        const r = await wrk(c.url, { durationS: seconds });
        if (r.errors > 0 || r.non2xx > 0) throw new Error(`${c.name}: ${r.errors} errors, ${r.non2xx} non-2xx`);
        const after = cpu(pids);
        per.get(c.name)?.push({ user: ((after.user - before.user) * 1000) / r.requests, sys: ((after.sys - before.sys) * 1000) / r.requests });
      }
    }
    const total = (s: Sample): number => s.user + s.sys;
    const first = per.get(contenders[1]?.name as string) ?? [];
    const ngx = per.get('nginx') ?? [];
    for (const c of contenders) {
      const s = per.get(c.name) ?? [];
      const mean = (f: (x: Sample) => number): number => s.reduce((a, x) => a + f(x), 0) / s.length;
      let line = `${c.name}: user ${mean((x) => x.user).toFixed(1)} + sys ${mean((x) => x.sys).toFixed(1)} = ${mean(total).toFixed(1)} us/request; rounds ${s.map((x) => total(x).toFixed(1)).join(' ')}`;
      if (c.name !== 'nginx') {
        line += `; vs nginx ${median(s.map((x, i) => total(x) / total(ngx[i] as Sample))).toFixed(3)}x`;
        line += `; vs first tree ${median(s.map((x, i) => total(x) / total(first[i] as Sample))).toFixed(3)}x (user ${median(s.map((x, i) => x.user / (first[i] as Sample).user)).toFixed(3)}x)`;
      }
      process.stdout.write(`${line}\n`);
    }
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 2_000));
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
}

await main();
