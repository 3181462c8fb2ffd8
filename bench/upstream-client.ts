/**
 * CPU per request of the upstream HTTP/1.1 client (src/upstream/http1) against undici's Pool,
 * same process, same nginx upstream (static 200, 12-byte body), interleaved rounds:
 *
 * - client: closed loops of `-c` concurrent requests from this process through each client
 *   (and one loop: sequential), for `-d` seconds each;
 * - proxy: a minimal node:net front (finds the end of the request head, answers with a
 *   Content-Length) that proxies every request through each client, loaded by wrk -t1 -c50:
 *   the shape issue 15 measured (a keep-alive socket pool 26-31 us per proxied request, an
 *   undici Pool 43-60 us).
 *
 * CPU = user + system time of this process (process.cpuUsage) over the run / requests served.
 * Run: npx tsx bench/upstream-client.ts [--rounds 3] [--seconds 5] [--concurrency 50] [--only undici|http1] [--no-proxy]
 */
import { ensureNginx, nginxConf } from './lib/nginx.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool, type Dispatcher } from 'undici';
import { Http1Pool, type Http1Exchange, type Http1Handler } from '../src/upstream/http1/index.js';
import { freePort } from '../test/harness/loopback.js';
import { ensureWrk, wrk } from './lib/wrk.js';

const HOST = '127.0.0.1';

const { values: opts } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '50' }, only: { type: 'string' }, 'no-proxy': { type: 'boolean', default: false } } });
const ROUNDS = Number(opts.rounds);
const SECONDS = Number(opts.seconds);
const CONCURRENCY = Number(opts.concurrency);

/** Sends one GET and calls `done(body bytes)` (or `failed`) when the response has ended. */
interface Client {
  readonly name: string;
  get(path: string, done: (status: number, body: Buffer) => void, failed: (err: Error) => void): void;
  close(): Promise<void>;
}

/** Gathers one response's status and body, then calls back. */
class Gather {
  protected status = 0;
  protected chunks: Buffer[] = [];
  constructor(
    private readonly done: (status: number, body: Buffer) => void,
    private readonly failed: (err: Error) => void,
  ) {}
  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return true;
  }
  protected finish(): void {
    this.done(this.status, this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks));
  }
  onError(err: Error): void {
    this.failed(err);
  }
}

/** One request through undici's dispatch path with a raw handler, as src/proxy/exchange.ts does. */
class UndiciCall extends Gather implements Dispatcher.DispatchHandler {
  onConnect(): void {}
  onHeaders(status: number): boolean {
    this.status = status;
    return true;
  }
  onComplete(): void {
    this.finish();
  }
}

class Http1Call extends Gather implements Http1Handler {
  onResponse(status: number, _headers: string[], _call: Http1Exchange): void {
    this.status = status;
  }
  onEnd(): void {
    this.finish();
  }
}

function undiciClient(port: number): Client {
  const pool = new Pool(`http://${HOST}:${port}`, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 0, bodyTimeout: 0 });
  const headers = ['host', `${HOST}:${port}`];
  return {
    name: 'undici Pool',
    get: (path, done, failed) => void pool.dispatch({ method: 'GET', path, headers }, new UndiciCall(done, failed)),
    close: () => pool.close(),
  };
}

function http1Client(port: number): Client {
  const pool = new Http1Pool({ host: HOST, port, connections: 64, keepAliveTimeout: 60_000 });
  const headers = ['host', `${HOST}:${port}`];
  return {
    name: 'Http1Pool',
    get: (path, done, failed) => void pool.request({ method: 'GET', path, headers, body: null }, new Http1Call(done, failed)),
    close: () => pool.close(),
  };
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** `concurrency` loops of back-to-back requests for `seconds`: requests/s and CPU us per request. */
async function clientLoop(client: Client, concurrency: number, seconds: number): Promise<{ rps: number; cpuUs: number }> {
  let count = 0;
  let stop = false;
  let failure: Error | undefined;
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    let running = concurrency;
    const next = (): void => {
      if (stop) {
        if (--running === 0) resolve();
        return;
      }
      client.get('/hello', onDone, onFail);
    };
    const onDone = (): void => {
      count++;
      next();
    };
    const onFail = (err: Error): void => {
      failure = err;
      stop = true;
      next();
    };
    setTimeout(() => (stop = true), seconds * 1000);
    for (let i = 0; i < concurrency; i++) next();
  });
  if (failure) throw failure;
  const elapsed = (performance.now() - t0) / 1000;
  return { rps: count / elapsed, cpuUs: (cpuMicros() - cpu0) / count };
}

/**
 * A minimal HTTP/1.1 front on node:net (GET only, no bodies): finds the end of each request
 * head, proxies it through `client`, answers with Content-Length. Enough for wrk; nothing else.
 */
function startFront(getClient: () => Client): Promise<{ port: number; served: () => number; close: () => Promise<void> }> {
  let served = 0;
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    sock.setNoDelay(true);
    let pending = '';
    sock.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      for (let at = pending.indexOf('\r\n\r\n'); at >= 0; at = pending.indexOf('\r\n\r\n')) {
        const path = pending.slice(pending.indexOf(' ') + 1, pending.indexOf(' ', pending.indexOf(' ') + 1));
        pending = pending.slice(at + 4);
        getClient().get(
          path,
          (status, body) => {
            served++;
            sock.write(`HTTP/1.1 ${status} OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n${body.toString('latin1')}`, 'latin1');
          },
          () => sock.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n'),
        );
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, HOST, () => {
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr !== null ? addr.port : 0,
        served: () => served,
        close: () => new Promise<void>((done) => {
          for (const s of sockets) s.destroy();
          server.close(() => done());
        }),
      });
    });
  });
}

async function startNginx(port: number): Promise<{ proc: ChildProcess; dir: string }> {
  const bin = await ensureNginx();
  const dir = mkdtempSync(join(tmpdir(), 'meridian-upstream-bench-'));
  mkdirSync(join(dir, 'logs'));
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, `  keepalive_timeout 75s;
  server { listen ${HOST}:${port}; location / { default_type text/plain; return 200 "hello world"; } }`));
  const proc = spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = http1Client(port);
      c.get('/', () => resolve(true), () => resolve(false));
      setTimeout(() => void c.close(), 1000);
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, dir };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function main(): Promise<void> {
  await ensureWrk();
  const upPort = await freePort();
  const nginx = await startNginx(upPort);
  // --only undici|http1 runs one client (for profiling: node --cpu-prof --import tsx ...).
  const makers = [undiciClient, http1Client].filter((m) => opts.only === undefined || m.name.toLowerCase().startsWith(opts.only.toLowerCase()));
  const results = new Map<string, { rps: number[]; cpu: number[] }>();
  const record = (key: string, rps: number, cpu: number): void => {
    const r = results.get(key) ?? { rps: [], cpu: [] };
    r.rps.push(rps);
    r.cpu.push(cpu);
    results.set(key, r);
  };
  try {
    let current: Client | undefined;
    const front = await startFront(() => current as Client);
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate which client goes first, so drift in the machine's load spreads evenly.
      const order = round % 2 === 1 ? makers : [...makers].reverse();
      for (const make of order) {
        for (const c of [1, CONCURRENCY]) {
          const client = make(upPort);
          await clientLoop(client, c, 0.5); // warm-up: connections open, code optimised
          const r = await clientLoop(client, c, SECONDS);
          record(`client c=${c} ${client.name}`, r.rps, r.cpuUs);
          process.stderr.write(`round ${round} client c=${c} ${client.name}: ${r.rps.toFixed(0)} req/s, ${r.cpuUs.toFixed(1)} us CPU/request\n`);
          await client.close();
        }
        if (opts['no-proxy']) continue;
        const client = make(upPort);
        current = client;
        await wrk(`http://${HOST}:${front.port}/hello`, { connections: CONCURRENCY, durationS: 1 });
        const cpu0 = cpuMicros();
        const served0 = front.served();
        const w = await wrk(`http://${HOST}:${front.port}/hello`, { connections: CONCURRENCY, durationS: SECONDS });
        const cpu = (cpuMicros() - cpu0) / (front.served() - served0);
        if (w.errors > 0 || w.non2xx > 0) throw new Error(`proxy through ${client.name}: ${w.errors} errors, ${w.non2xx} non-2xx`);
        record(`proxy wrk -c${CONCURRENCY} ${client.name}`, w.requestsPerSec, cpu);
        process.stderr.write(`round ${round} proxy ${client.name}: ${w.requestsPerSec.toFixed(0)} req/s, ${cpu.toFixed(1)} us CPU/request, p99 ${w.latencyMs.p99.toFixed(2)} ms\n`);
        await client.close();
      }
    }
    await front.close();
  } finally {
    nginx.proc.kill('SIGTERM');
    rmSync(nginx.dir, { recursive: true, force: true });
  }
  process.stdout.write(`\n${'run'.padEnd(36)}  ${'req/s (median)'.padStart(14)}  ${'CPU us/request (median, all)'}\n`);
  for (const [key, r] of results) process.stdout.write(`${key.padEnd(36)}  ${median(r.rps).toFixed(0).padStart(14)}  ${median(r.cpu).toFixed(1)} (${r.cpu.map((x) => x.toFixed(1)).join(', ')})\n`);
}

await main();
