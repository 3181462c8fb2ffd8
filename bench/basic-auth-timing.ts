/**
 * basic-auth under password guessing, against `meridian gateway` started as an operator starts
 * it (one worker, standalone route file). Prints two figures (issue 16, item 11):
 * 1. median time of 20 requests each: a known user with a wrong password vs an unknown user
 *    (a difference tells an attacker which user names exist);
 * 2. latency of another route (no plugins) while 40 wrong guesses a second arrive, vs idle.
 *
 *   node --import tsx bench/basic-auth-timing.ts
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashPassword } from '../src/plugins/basic-auth.js';
import { PROJECT_ROOT } from '../src/core/servers/binaries.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] as number;
};
const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

async function timed(url: string, headers: Record<string, string> = {}): Promise<{ ms: number; status: number }> {
  const t0 = performance.now();
  const r = await fetch(url, { headers });
  await r.arrayBuffer();
  return { ms: performance.now() - t0, status: r.status };
}

const upstream = createServer((_req, res) => res.end('ok'));
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
const dir = mkdtempSync(join(tmpdir(), 'meridian-basic-timing-'));
const port = await freePort();
const up = { nodes: [{ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }] };
writeFileSync(join(dir, 'routes.yaml'), JSON.stringify({
  revision: 1,
  // The documented default cost (N=16384, r=8, p=1).
  consumers: [{ username: 'alice', plugins: { 'basic-auth': { username: 'alice', password_hash: await hashPassword('wonderland') } } }],
  routes: [
    { id: 'basic', paths: ['/basic'], upstream: up, plugins: { 'basic-auth': {} } },
    { id: 'other', paths: ['/other'], upstream: up },
  ],
}));
writeFileSync(join(dir, 'gateway.yaml'), JSON.stringify({
  node: { name: 'gw-basic-timing', region: 'r1' },
  listen: { http: `127.0.0.1:${port}` },
  admin: { listen: `127.0.0.1:${await freePort()}` },
  workers: 1,
  config: { source: 'file', file: join(dir, 'routes.yaml'), snapshot_file: join(dir, 'snap.json') },
  drain: { grace_ms: 0, timeout_ms: 1_000 },
}));
const gw = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), 'gateway', '-c', join(dir, 'gateway.yaml')], {
  cwd: PROJECT_ROOT,
  env: { ...process.env, MERIDIAN_LOG_LEVEL: 'warn' },
  stdio: 'inherit',
});
const base = `http://127.0.0.1:${port}`;
try {
  for (let i = 0; ; i++) {
    if (i > 600) throw new Error('gateway did not start within 60 s');
    try {
      if ((await fetch(`${base}/other`)).status === 200) break;
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  // Warm up: both paths once.
  await timed(`${base}/basic`, { authorization: basic('alice', 'wrong-0') });
  await timed(`${base}/basic`, { authorization: basic('nobody', 'wrong-0') });

  const known: number[] = [];
  const unknown: number[] = [];
  // Interleaved, the order alternating, so load from elsewhere falls on both alike.
  for (let i = 0; i < 20; i++) {
    const k = () => timed(`${base}/basic`, { authorization: basic('alice', `wrong-${i}`) }).then((r) => void known.push(r.ms));
    const u = () => timed(`${base}/basic`, { authorization: basic(`nobody-${i}`, `wrong-${i}`) }).then((r) => void unknown.push(r.ms));
    if (i % 2 === 0) {
      await k();
      await u();
    } else {
      await u();
      await k();
    }
  }
  console.log(`known user, wrong password: median ${median(known).toFixed(1)} ms (20 requests)`);
  console.log(`unknown user:               median ${median(unknown).toFixed(1)} ms (20 requests)`);

  const idle: number[] = [];
  for (let i = 0; i < 40; i++) {
    idle.push((await timed(`${base}/other`)).ms);
    await sleep(25);
  }
  // 40 wrong guesses a second for 5 s (each on its own, as many clients would send them).
  const statuses = new Map<number, number>();
  const guesses: Array<Promise<void>> = [];
  const underLoad: number[] = [];
  const until = performance.now() + 5_000;
  const guesser = (async () => {
    for (let i = 0; performance.now() < until; i++) {
      guesses.push(timed(`${base}/basic`, { authorization: basic('alice', `guess-${i}`) }).then((r) => void statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)));
      await sleep(25);
    }
  })();
  while (performance.now() < until) {
    underLoad.push((await timed(`${base}/other`)).ms);
    await sleep(25);
  }
  await guesser;
  await Promise.all(guesses);
  console.log(`other route idle:          median ${median(idle).toFixed(1)} ms, p90 ${pct(idle, 0.9).toFixed(1)} ms (${idle.length} requests)`);
  console.log(`other route, 40 guesses/s: median ${median(underLoad).toFixed(1)} ms, p90 ${pct(underLoad, 0.9).toFixed(1)} ms (${underLoad.length} requests); guesses answered ${JSON.stringify(Object.fromEntries(statuses))}`);
} finally {
  gw.kill('SIGTERM');
  await new Promise((r) => gw.once('exit', r));
  upstream.close();
  rmSync(dir, { recursive: true, force: true });
}
