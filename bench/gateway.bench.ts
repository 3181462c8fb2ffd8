import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from '../src/core/servers/binaries.js';
import { EtcdStore } from '../src/core/etcd-store.js';
import { regionalKeys } from '../src/core/keys.js';
import { RuntimeBuilder } from '../src/gateway/build.js';
import { GatewayMetrics } from '../src/gateway/metrics.js';
import { Router } from '../src/router/router.js';
import { PoolManager } from '../src/upstream/pools.js';
import { builtinRegistry } from '../src/plugins/index.js';
import { BinaryServers } from '../test/harness/servers.js';
import { freePort } from '../test/harness/loopback.js';
import { ensureNginx, nginxConf } from './lib/nginx.js';
import { treeCpuMs } from './lib/proc-cpu.js';
import { ensureWrk, wrk, type LoadResult } from './lib/wrk.js';
import { absoluteFigure, ratioFigure, type Benchmark } from './lib/types.js';

const run = promisify(execFile);
const HOST = '127.0.0.1';
const WORK = join(PROJECT_ROOT, '.meridian', 'bench-gateway');
const BODY = 'hello world\n';

/** Processes this bench started (and only those) are stopped at the end. */
class Processes {
  private readonly list: ChildProcess[] = [];
  start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const p = spawn(cmd, args, { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: false });
    p.stderr?.on('data', () => undefined);
    this.list.push(p);
    return p;
  }
  async stop(p: ChildProcess): Promise<void> {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(t);
  }
  async stopAll(): Promise<void> {
    await Promise.all(this.list.map((p) => this.stop(p)));
  }
}

async function waitFor(url: string, ok: (status: number) => boolean = (s) => s === 200, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (ok(r.status)) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function ensureHaproxy(): Promise<string> {
  try {
    await run('haproxy', ['-v']);
    return 'haproxy';
  } catch {
    // Debian's haproxy 2.6; RUNLEVEL=1 keeps its postinst from starting a system service.
    await run('bash', ['-c', 'export RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq --no-install-recommends haproxy >/dev/null 2>&1 || (apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends haproxy >/dev/null)'], { timeout: 300_000 });
    return '/usr/sbin/haproxy';
  }
}

/** HAProxy in the setup the issue compares with: one thread, upstream connections reused by every client. */
function startHaproxy(procs: Processes, bin: string, port: number, upstreamPort: number): ChildProcess {
  const dir = join(WORK, 'haproxy');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'haproxy.cfg'), `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind ${HOST}:${port}
  default_backend be
backend be
  http-request replace-path /api(/.*) \\1
  server s1 ${HOST}:${upstreamPort}
`);
  return procs.start(bin, ['-db', '-f', join(dir, 'haproxy.cfg')]);
}

function startNginx(procs: Processes, bin: string, name: string, server: string): ChildProcess {
  const dir = join(WORK, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, server));
  return procs.start(bin, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')]);
}

/** `meridian gateway` as an operator runs it: compiled when the bench runs compiled, else via tsx. */
function meridianArgs(): string[] {
  // The CLI next to this file: dist/src/cli/main.js when the bench runs compiled.
  const compiled = import.meta.url.endsWith('.js');
  return compiled ? [fileURLToPath(new URL('../src/cli/main.js', import.meta.url))] : ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts')];
}

interface GatewayProc {
  proc: ChildProcess;
  port: number;
  admin: string;
  workerPid(): Promise<number>;
}

async function startMeridian(procs: Processes, name: string, config: Record<string, unknown>): Promise<GatewayProc> {
  const port = await freePort(HOST);
  const adminPort = await freePort(HOST);
  const dir = join(WORK, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, JSON.stringify({
    node: { name, region: 'bench' },
    listen: { http: `${HOST}:${port}` },
    admin: { listen: `${HOST}:${adminPort}` },
    workers: 1,
    drain: { grace_ms: 0, timeout_ms: 2_000 },
    ...config,
    config: { snapshot_file: join(dir, 'snapshot.json'), ...(config.config as object) },
  }));
  const proc = procs.start(process.execPath, [...meridianArgs(), 'gateway', '-c', file], { MERIDIAN_LOG_LEVEL: 'warn' });
  const admin = `http://${HOST}:${adminPort}`;
  await waitFor(`${admin}/healthz`, (s) => s === 200, 60_000);
  return {
    proc,
    port,
    admin,
    workerPid: async () => {
      const s = (await (await fetch(`${admin}/status`)).json()) as { workers: Array<{ pid: number }> };
      return s.workers[0]?.pid ?? 0;
    },
  };
}

function routes(n: number, upstreamPort: number): Record<string, unknown> {
  return {
    revision: n,
    upstreams: [{ id: 'up', nodes: [{ host: HOST, port: upstreamPort }], keepalive: { connections: 64 } }],
    routes: Array.from({ length: n }, (_, i) => ({ id: `r${i}`, paths: [`/svc${i}/*`], upstream_id: 'up', strip_prefix: `/svc${i}` })),
  };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function best(url: string, rounds: number, durationS: number): Promise<LoadResult> {
  let top: LoadResult | undefined;
  for (let i = 0; i < rounds; i++) {
    const r = await wrk(url, { threads: 1, connections: 50, durationS });
    if (r.errors > 0 || r.non2xx > 0) throw new Error(`${url}: ${r.errors} errors, ${r.non2xx} non-2xx`);
    if (!top || r.requestsPerSec > top.requestsPerSec) top = r;
  }
  return top as LoadResult;
}

function routeSpecs(n: number): Array<{ id: string; paths: string[]; priority: number; value: number }> {
  return Array.from({ length: n }, (_, i) => ({ id: `r${i}`, paths: [i % 2 === 0 ? `/svc${i}/*` : `/svc${i}/items/:id`], priority: 0, value: i }));
}

/** CPU time (ms) of `fn` in this process: on a shared box, wall time mostly measures the scheduler. */
function cpuMs(fn: () => void): { cpu: number; wall: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / 1000, wall };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export const gatewayBench: Benchmark = {
  name: 'gateway',
  description: 'meridian gateway (1 worker) vs nginx, HAProxy, a bare undici proxy, fast-gateway, @fastify/http-proxy and the upstream: CPU per request, req/s, p99; 10k routes; router build; p99 under route churn; RSS',
  async run(log) {
    await ensureWrk();
    const nginx = await ensureNginx();
    const haproxy = await ensureHaproxy();
    rmSync(WORK, { recursive: true, force: true });
    mkdirSync(WORK, { recursive: true });
    const procs = new Processes();
    const servers = new BinaryServers();
    try {
      // ---- side by side: one route, static upstream, keep-alive ----
      const up = await freePort(HOST);
      const upstreamProc = startNginx(procs, nginx, 'upstream', `  server { listen ${HOST}:${up}; location / { default_type text/plain; return 200 "${BODY.trim()}\\n"; } }`);
      const nx = await freePort(HOST);
      const nginxProc = startNginx(procs, nginx, 'nginx-proxy', `  upstream up { server ${HOST}:${up}; keepalive 64; }
  server { listen ${HOST}:${nx}; location /api/ { proxy_pass http://up/; proxy_http_version 1.1; proxy_set_header Connection ""; } }`);
      const fg = await freePort(HOST);
      const fh = await freePort(HOST);
      writeFileSync(join(WORK, 'fast-gateway.cjs'), `require('fast-gateway')({ routes: [{ prefix: '/api', target: 'http://${HOST}:${up}' }] }).start(${fg}, '${HOST}');\n`);
      writeFileSync(join(WORK, 'fastify-proxy.cjs'), `const app = require('fastify')({ logger: false });
app.register(require('@fastify/http-proxy'), { upstream: 'http://${HOST}:${up}', prefix: '/api' });
app.listen({ port: ${fh}, host: '${HOST}' });\n`);
      // The floor of any undici-based proxy on this machine: no routing, no metrics, no header work
      // beyond dropping hop-by-hop ones. What the gateway adds is measured against it.
      const bare = await freePort(HOST);
      writeFileSync(join(WORK, 'bare-undici.cjs'), `const http = require('node:http');
const { Pool } = require('undici');
const pool = new Pool('http://${HOST}:${up}', { connections: 64 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);
class Handler {
  constructor(res) { this.res = res; }
  onConnect() {}
  onHeaders(status, raw) {
    const out = [];
    for (let i = 0; i < raw.length; i += 2) { const k = raw[i].toString('latin1'); if (!HOP.has(k.toLowerCase())) out.push(k, raw[i + 1].toString('latin1')); }
    this.res.writeHead(status, out);
    return true;
  }
  onData(chunk) { this.res.write(chunk); return true; }
  onComplete() { this.res.end(); }
  onError() { if (!this.res.headersSent) this.res.statusCode = 502; this.res.end(); }
}
http.createServer((req, res) => {
  pool.dispatch({ method: req.method, path: req.url.slice(4), headers: req.rawHeaders, body: null }, new Handler(res));
}).listen(${bare}, '${HOST}');\n`);
      const bareProc = procs.start(process.execPath, [join(WORK, 'bare-undici.cjs')]);
      const fastGatewayProc = procs.start(process.execPath, [join(WORK, 'fast-gateway.cjs')]);
      const fastifyProc = procs.start(process.execPath, [join(WORK, 'fastify-proxy.cjs')]);
      const hx = await freePort(HOST);
      const haproxyProc = startHaproxy(procs, haproxy, hx, up);
      const dataFile = join(WORK, 'data.json');
      const one = { revision: 1, upstreams: [{ id: 'up', nodes: [{ host: HOST, port: up }] }], routes: [{ id: 'api', paths: ['/api/*'], upstream_id: 'up', strip_prefix: '/api' }] };
      writeFileSync(dataFile, JSON.stringify(one));
      const gw = await startMeridian(procs, 'meridian', { config: { source: 'file', file: dataFile } });
      // 10 vs 10,000 routes: two gateways side by side, interleaved with the others in the rounds.
      const file10 = join(WORK, 'routes-10.json');
      const file10k = join(WORK, 'routes-10k.json');
      writeFileSync(file10, JSON.stringify(routes(10, up)));
      writeFileSync(file10k, JSON.stringify(routes(10_000, up)));
      const gw10 = await startMeridian(procs, 'meridian-10', { config: { source: 'file', file: file10 } });
      const gw10k = await startMeridian(procs, 'meridian-10k', { config: { source: 'file', file: file10k } });
      // Each contender with the process whose CPU it costs (with its children: a gateway's workers).
      const targets: Record<string, { url: string; pid: number }> = {
        upstream: { url: `http://${HOST}:${up}/hello`, pid: upstreamProc.pid as number },
        nginx: { url: `http://${HOST}:${nx}/api/hello`, pid: nginxProc.pid as number },
        haproxy: { url: `http://${HOST}:${hx}/api/hello`, pid: haproxyProc.pid as number },
        meridian: { url: `http://${HOST}:${gw.port}/api/hello`, pid: gw.proc.pid as number },
        'fast-gateway': { url: `http://${HOST}:${fg}/api/hello`, pid: fastGatewayProc.pid as number },
        'fastify-http-proxy': { url: `http://${HOST}:${fh}/api/hello`, pid: fastifyProc.pid as number },
        'bare-undici': { url: `http://${HOST}:${bare}/api/hello`, pid: bareProc.pid as number },
        'meridian-10-routes': { url: `http://${HOST}:${gw10.port}/svc7/hello`, pid: gw10.proc.pid as number },
        'meridian-10k-routes': { url: `http://${HOST}:${gw10k.port}/svc9007/hello`, pid: gw10k.proc.pid as number },
      };
      for (const { url } of Object.values(targets)) await waitFor(url, (st) => st === 200, 60_000);
      for (const { url } of Object.values(targets)) await wrk(url, { durationS: 1 }); // warm-up (JIT, pools)
      const results: Record<string, LoadResult[]> = {};
      const cpu: Record<string, { ms: number; requests: number }> = {};
      // Rounds interleave the contenders so machine noise spreads over all of them.
      const ROUNDS = 3;
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, { url, pid }] of Object.entries(targets)) {
          const before = treeCpuMs(pid);
          const r = await best(url, 1, 5);
          const used = treeCpuMs(pid) - before;
          (results[name] ??= []).push(r);
          const c = (cpu[name] ??= { ms: 0, requests: 0 });
          c.ms += used;
          c.requests += r.requests;
          log(`round ${round + 1} ${name}: ${r.requestsPerSec.toFixed(0)} req/s, p99 ${r.latencyMs.p99.toFixed(2)} ms, CPU ${((used * 1000) / r.requests).toFixed(1)} us/request`);
        }
      }
      // CPU per request over all rounds (total CPU / total requests), in microseconds.
      const cpuUs = (name: string): number => ((cpu[name]?.ms ?? 0) * 1000) / Math.max(1, cpu[name]?.requests ?? 0);
      const median99 = (name: string): number => median((results[name] ?? []).map((r) => r.latencyMs.p99));
      log(`CPU per request: ${Object.keys(targets).map((k) => `${k} ${cpuUs(k).toFixed(1)} us`).join(', ')}`);
      const pick = (name: string): LoadResult => (results[name] ?? []).reduce((a, b) => (b.requestsPerSec > a.requestsPerSec ? b : a));
      const m = pick('meridian');
      const n = pick('nginx');
      const u = pick('upstream');
      const f1 = pick('fast-gateway');
      const f2 = pick('fastify-http-proxy');
      const nodeBest = f1.requestsPerSec >= f2.requestsPerSec ? f1 : f2;
      const b = pick('bare-undici');
      const hp = pick('haproxy');
      log(`bare undici proxy ${(b.requestsPerSec / n.requestsPerSec).toFixed(2)}x nginx; meridian ${(m.requestsPerSec / b.requestsPerSec).toFixed(2)}x the bare undici proxy`);

      const rps10 = pick('meridian-10-routes').requestsPerSec;
      const rps10k = pick('meridian-10k-routes').requestsPerSec;
      const rss10k = rssMb(await gw10k.workerPid());
      log(`10 routes ${rps10.toFixed(0)} req/s, 10,000 routes ${rps10k.toFixed(0)} req/s; worker RSS with 10,000 routes ${rss10k.toFixed(1)} MB`);
      await procs.stopAll();

      // ---- router build (in process, as a worker does it) ----
      const builds10k: number[] = [];
      const builds10kWall: number[] = [];
      for (let i = 0; i < 5; i++) {
        const checked = RuntimeBuilder.dryRun(routes(10_000, 1), builtinRegistry(), 'bench');
        const fresh = new RuntimeBuilder({ registry: builtinRegistry(), pools: new PoolManager(), metrics: new GatewayMetrics(), region: 'bench' });
        const t = cpuMs(() => fresh.build(checked, undefined));
        builds10k.push(t.cpu);
        builds10kWall.push(t.wall);
      }
      const router100k: number[] = [];
      const router100kWall: number[] = [];
      const eager10k: number[] = [];
      for (let i = 0; i < 3; i++) {
        const specs = routeSpecs(100_000);
        const t = cpuMs(() => new Router(specs));
        router100k.push(t.cpu);
        router100kWall.push(t.wall);
        const s10 = routeSpecs(10_000);
        eager10k.push(cpuMs(() => new Router(s10, undefined, { eager: true })).cpu);
      }
      log(`build 10,000 routes: ${median(builds10k).toFixed(0)} ms CPU (${median(builds10kWall).toFixed(0)} ms wall, full worker build); router 100,000: ${median(router100k).toFixed(0)} ms CPU (${median(router100kWall).toFixed(0)} ms wall); 10,000 with every tree compiled eagerly: ${median(eager10k).toFixed(0)} ms CPU`);

      // ---- p99 while routes change 10 times a second (etcd mode, 10,000 routes, as the issue states it) ----
      const etcd = await servers.etcd();
      const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/meridian' });
      startNginx(procs, nginx, 'upstream2', `  server { listen ${HOST}:${up}; location / { default_type text/plain; return 200 "${BODY.trim()}\\n"; } }`);
      await waitFor(`http://${HOST}:${up}/`);
      const CHURN_ROUTES = 10_000;
      const base = routes(CHURN_ROUTES, up);
      await store.put(regionalKeys.resource('upstreams', 'up'), (base.upstreams as unknown[])[0]);
      const all = base.routes as Array<Record<string, unknown>>;
      for (let i = 0; i < all.length; i += 100) await Promise.all(all.slice(i, i + 100).map((r) => store.put(regionalKeys.resource('routes', r.id as string), r)));
      const gw2 = await startMeridian(procs, 'meridian-etcd', { config: { source: 'etcd', etcd: { endpoints: [etcd.endpoint] }, debounce_ms: 20 } });
      const url = `http://${HOST}:${gw2.port}/svc500/hello`;
      await waitFor(url);
      await wrk(url, { durationS: 1 });
      // Steady and churned runs alternate (3 of each, 5 s), and their medians are compared, so a
      // noisy moment of the machine does not land on one side only.
      let changes = 0;
      const steadyRuns: LoadResult[] = [];
      const churnRuns: LoadResult[] = [];
      for (let pair = 0; pair < 3; pair++) {
        steadyRuns.push(await best(url, 1, 5));
        const churn = setInterval(() => {
          const id = `r${changes % 10}`;
          changes++;
          void store.put(regionalKeys.resource('routes', id), { id, paths: [`/svc${changes % 10}/*`], upstream_id: 'up', strip_prefix: `/svc${changes % 10}`, labels: { v: String(changes) } });
        }, 100);
        churnRuns.push(await wrk(url, { durationS: 5 }));
        clearInterval(churn);
      }
      const steadyP99 = median(steadyRuns.map((r) => r.latencyMs.p99));
      const churnP99 = median(churnRuns.map((r) => r.latencyMs.p99));
      const churnErrors = churnRuns.reduce((a, r) => a + r.errors, 0);
      log(`p99 steady ${steadyRuns.map((r) => r.latencyMs.p99.toFixed(2)).join(' ')} ms, while routes change 10 times a second ${churnRuns.map((r) => r.latencyMs.p99.toFixed(2)).join(' ')} ms (${changes} changes, ${churnErrors} errors); medians ${steadyP99.toFixed(2)} vs ${churnP99.toFixed(2)} ms`);
      await store.stop();

      return {
        figures: {
          cpu_per_request_vs_nginx: ratioFigure(cpuUs('meridian'), cpuUs('nginx'), 'us', { max: 2 }, 'nginx'),
          cpu_per_request_vs_haproxy: ratioFigure(cpuUs('meridian'), cpuUs('haproxy'), 'us', { max: 2 }, 'haproxy'),
          rps_vs_nginx: ratioFigure(m.requestsPerSec, n.requestsPerSec, 'req/s', { min: 0.5 }, 'nginx'),
          p99_vs_nginx: ratioFigure(median99('meridian'), median99('nginx'), 'ms', { max: 2 }, 'nginx'),
          rps_vs_best_node_gateway: ratioFigure(m.requestsPerSec, nodeBest.requestsPerSec, 'req/s', { min: 1.2 }, 'max(fast-gateway, @fastify/http-proxy)'),
          rps_10k_vs_10_routes: ratioFigure(rps10k, rps10, 'req/s', { min: 0.95 }, '10 routes'),
          cpu_10k_vs_10_routes: ratioFigure(cpuUs('meridian-10k-routes'), cpuUs('meridian-10-routes'), 'us', { max: 1.05 }, '10 routes'),
          router_build_10k: absoluteFigure(Math.round(median(builds10k)), 'ms', { max: 200 }),
          router_build_100k: absoluteFigure(Math.round(median(router100k)), 'ms', { max: 3_000 }),
          p99_during_route_churn: ratioFigure(churnP99, steadyP99, 'ms', { max: 1.5 }, 'steady p99'),
          worker_rss_10k_routes: absoluteFigure(Math.round(rss10k), 'MB', { max: 150 }),
        },
        details: {
          load: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.map((r) => ({ rps: Math.round(r.requestsPerSec), p50_ms: r.latencyMs.p50, p99_ms: r.latencyMs.p99 }))])),
          cpu_us_per_request: Object.fromEntries(Object.keys(targets).map((k) => [k, Number(cpuUs(k).toFixed(2))])),
          haproxy_vs_nginx_rps: hp.requestsPerSec / n.requestsPerSec,
          vs_upstream_direct: m.requestsPerSec / u.requestsPerSec,
          // Informative: how far any undici-based proxy gets here, and what Meridian's features cost over it.
          bare_undici_vs_nginx: b.requestsPerSec / n.requestsPerSec,
          meridian_vs_bare_undici: m.requestsPerSec / b.requestsPerSec,
          build_10k_cpu_ms: builds10k,
          build_10k_wall_ms: builds10kWall,
          router_100k_cpu_ms: router100k,
          router_100k_wall_ms: router100kWall,
          router_10k_eager_cpu_ms: eager10k,
          churn: { routes: CHURN_ROUTES, changes, steady_p99_ms: steadyRuns.map((r) => r.latencyMs.p99), churn_p99_ms: churnRuns.map((r) => r.latencyMs.p99), churn_rps: churnRuns.map((r) => r.requestsPerSec), errors: churnErrors },
          machine_note: '2 cores shared by wrk, the proxy and the upstream (and other work on the box): ratios side by side, not absolute figures',
        },
      };
    } finally {
      await procs.stopAll();
      await servers.close();
    }
  },
};
