/**
 * Hello world on the HTTP/1.1 engine (src/http) vs node:http, with a bare node:net server as
 * the floor. Each server runs in its own process; wrk -t1 -c50 drives one at a time, rounds
 * interleaved; CPU per request = (utime + stime of the server process over the run) / requests.
 *
 * Run: npx tsx bench/http-engine.ts [rounds=3] [seconds=5]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stealMeter } from './lib/steal.js';
import { ensureWrk, wrk, type LoadResult } from './lib/wrk.js';

const KINDS = ['node', 'engine', 'net'] as const;
type Kind = (typeof KINDS)[number];
const CLK_TCK = 100; // Linux USER_HZ

interface Server { kind: Kind; child: ChildProcess; port: number }

async function startServer(kind: Kind): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'http-engine-server.ts'), kind], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code})`)));
  });
  return { kind, child, port };
}

/** utime + stime of a process, in microseconds. */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1e6;
}

interface Run { rps: number; cpuPerRequestUs: number; p99Ms: number; errors: number }

async function measure(server: Server, seconds: number): Promise<Run> {
  const pid = server.child.pid as number;
  const before = cpuMicros(pid);
  const r: LoadResult = await wrk(`http://127.0.0.1:${server.port}/`, { threads: 1, connections: 50, durationS: seconds });
  const used = cpuMicros(pid) - before;
  return { rps: r.requestsPerSec, cpuPerRequestUs: used / r.requests, p99Ms: r.latencyMs.p99, errors: r.errors + r.non2xx };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const seconds = Number(process.argv[3] ?? 5);
  await ensureWrk();
  const servers = await Promise.all(KINDS.map(startServer));
  const steal = stealMeter();
  try {
    for (const s of servers) await wrk(`http://127.0.0.1:${s.port}/`, { durationS: 1 }); // warm-up
    const runs = new Map<Kind, Run[]>(KINDS.map((k) => [k, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const s of servers) {
        const r = await measure(s, seconds);
        runs.get(s.kind)?.push(r);
        console.log(`round ${round} ${s.kind.padEnd(6)} ${Math.round(r.rps).toLocaleString('en')} req/s  ${r.cpuPerRequestUs.toFixed(1)} us/req  p99 ${r.p99Ms.toFixed(2)} ms  errors ${r.errors}`);
      }
    }
    console.log(`\nmedian of ${rounds} rounds of ${seconds} s (wrk -t1 -c50), cpu steal ${((steal() ?? 0) * 100).toFixed(1)} %`);
    console.log('| server | req/s | CPU per request | p99 |\n|---|---|---|---|');
    for (const k of KINDS) {
      const rs = runs.get(k) ?? [];
      console.log(`| ${k} | ${Math.round(median(rs.map((r) => r.rps))).toLocaleString('en')} | ${median(rs.map((r) => r.cpuPerRequestUs)).toFixed(1)} us | ${median(rs.map((r) => r.p99Ms)).toFixed(2)} ms |`);
    }
  } finally {
    for (const s of servers) s.child.kill();
  }
}

await main();
