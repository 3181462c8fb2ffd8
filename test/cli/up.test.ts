import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/core/config-file.js';
import { PROJECT_ROOT } from '../../src/core/servers/binaries.js';
import { readPidFile, type PidRecord } from '../../src/cli/up/pid-file.js';
import { addressesOf, LocalTopology } from '../../src/cli/up/topology.js';
import { MERIDIAN, runMeridian } from '../harness/cli.js';

// `meridian up` as a process, on a loopback range of its own (127.61.x.y: chaos uses 127.60
// and 127.70, the harness 127.100+), one region with one gateway to keep a bring-up short.
// A fixed working folder: `meridian down --dir` first clears what an interrupted run left.
const dir = join(PROJECT_ROOT, '.meridian', 'test-up');
const topologyFile = join(dir, 'topology.yaml');
mkdirSync(dir, { recursive: true });
writeFileSync(topologyFile, 'base: "127.61"\nregions: [{ name: east }]\ngateways_per_region: 1\ndns_port: 5353\ndemo: { instances_per_region: 1 }\n');
const topology = loadConfig(LocalTopology, topologyFile);
const a = addressesOf(topology);
const controller = `http://${a.controller}`;
const auth = { authorization: `Bearer ${topology.admin_token}`, 'content-type': 'application/json' };
const gatewayHealth = `http://${a.gateway(0, 0)}:${topology.gateway_admin_port}/healthz`;
const logs = join(dir, 'logs');

type Up = ChildProcess & { output: () => string };

/**
 * `meridian up` in a process group of its own, its stdout a pipe: like `npm start | tee`
 * under a terminal, where Ctrl-C is SIGINT to the whole group.
 */
async function startUp(extra: string[]): Promise<Up> {
  const child = spawn(process.execPath, [...MERIDIAN, 'up', '-c', topologyFile, '--dir', dir, ...extra], { cwd: PROJECT_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const up = Object.assign(child, { output: () => out });
  await vi.waitFor(() => {
    if (up.exitCode !== null) throw new Error(`meridian up exited: ${out}`);
    if (!out.includes('cluster up in')) throw new Error('not up yet');
  }, { timeout: 120_000, interval: 250 });
  return up;
}

function processes(): PidRecord[] {
  return readPidFile(join(dir, 'pids.json'))?.processes ?? [];
}

async function demoVdomain(): Promise<string> {
  const res = await fetch(`${controller}/v1/bindings/${topology.demo.business_domain}`, { headers: auth });
  expect(res.status).toBe(200);
  return ((await res.json()) as { vdomain: string }).vdomain;
}

async function routeStatus(id: string): Promise<number> {
  const res = await fetch(`${controller}/v1/routes/${id}`, { headers: auth });
  await res.arrayBuffer();
  return res.status;
}

/** `X stopped` lines of up.log (from `text`): name and time, in order. */
function stopRecords(text: string): Array<{ name: string; at: number }> {
  return text.split('\n').flatMap((line) => {
    const m = /^(\S+) (\S+) stopped \(/.exec(line);
    return m?.[1] && m[2] ? [{ name: m[2], at: Date.parse(m[1]) }] : [];
  });
}

let up: Up | undefined;

async function sigintGroupAndWait(u: Up): Promise<number> {
  if (u.pid === undefined) throw new Error('meridian up has no pid');
  const t0 = Date.now();
  const exited = once(u, 'exit');
  process.kill(-u.pid, 'SIGINT');
  await exited;
  return Date.now() - t0;
}

beforeAll(async () => {
  runMeridian(['down', '--dir', dir]);
  up = await startUp(['--fresh']);
}, 150_000);

afterAll(async () => {
  if (up && up.exitCode === null) await sigintGroupAndWait(up);
  runMeridian(['down', '--dir', dir]);
}, 60_000);

describe('meridian up', () => {
  it('restarts a gateway killed with SIGKILL and says so', async () => {
    const u = up as Up;
    const before = processes().find((p) => p.name === 'gateway-east-1');
    expect(before).toBeDefined();
    process.kill(before?.pid ?? 0, 'SIGKILL');
    await expect.poll(() => u.output(), { timeout: 10_000 }).toContain('[up] gateway-east-1 exited (signal SIGKILL); restarting in 0.5 s (restart 1)');
    await expect.poll(() => u.output(), { timeout: 60_000, interval: 250 }).toMatch(/\[up\] gateway-east-1 restarted \(pid \d+, restart 1\)/);
    const after = processes().find((p) => p.name === 'gateway-east-1');
    expect(after?.pid).not.toBe(before?.pid);
    await expect.poll(async () => (await fetch(gatewayHealth).catch(() => undefined))?.status, { timeout: 10_000 }).toBe(200);
    // The live status says it too (stdout is a pipe: one line per change).
    // The supervisor's own health check may see it a poll later than this test does.
    await expect.poll(() => u.output(), { timeout: 10_000 }).toMatch(/\[up\] status: gateway-east-1 healthy, 1 restart\(s\)/);
  }, 90_000);

  it('Ctrl-C with stdout piped: gateways drain first, servers stop last, every drain line is in the gateway log', async () => {
    const u = up as Up;
    // Something to find after the restart (next test).
    const put = await fetch(`${controller}/v1/routes/kept`, { method: 'PUT', headers: auth, body: JSON.stringify({ id: 'kept', paths: ['/kept'], upstream_id: topology.demo.service }) });
    expect(put.status).toBe(201);
    const pids = processes();
    expect(pids.length).toBe(9);
    // tee dies with the same Ctrl-C: the pipe `up` writes to has no reader any more.
    u.stdout?.destroy();
    const logBefore = statSync(join(logs, 'up.log')).size;
    const ms = await sigintGroupAndWait(u);
    expect(u.exitCode).toBe(0);

    // up.log and the programs' logs are appended to: this stop's lines are the new ones.
    const upLog = readFileSync(join(logs, 'up.log'), 'utf8').slice(logBefore);
    const tiers = [...upLog.matchAll(/tier (.+) stopped in ([\d.]+) s/g)].map((m) => `${m[1]}: ${m[2]} s`);
    console.log(`SIGINT to exit: ${ms} ms; ${tiers.join('; ')}`);
    expect(tiers.length).toBe(3);
    // Only `up` got the Ctrl-C: each program got SIGTERM from it, tier by tier.
    const stops = stopRecords(upLog);
    const order = stops.map((s) => s.name);
    const gwStop = order.indexOf('gateway-east-1');
    expect(gwStop).toBeGreaterThanOrEqual(0);
    for (const server of ['consul-east', 'etcd-east', 'etcd-central', 'redis-east']) expect(order.indexOf(server), server).toBeGreaterThan(gwStop);
    for (const p of pids) expect(order, p.name).toContain(p.name);

    // The gateway's own lines of this stop, written by it to its file while `up`'s pipe was gone.
    const gwLog = readFileSync(join(logs, 'gateway-east-1.log'), 'utf8');
    const thisRun = gwLog.slice(gwLog.lastIndexOf('"msg":"gateway started"'));
    expect(thisRun).toContain('"msg":"draining"');
    const drained = thisRun.split('\n').find((l) => l.includes('"msg":"drained; exiting"'));
    expect(drained).toBeDefined();
    // Drained before any server was asked to stop.
    const drainedAt = Date.parse((JSON.parse(drained ?? '{}') as { time: string }).time);
    const firstServerStop = Math.min(...stops.filter((s) => /^(consul|etcd|redis)-/.test(s.name)).map((s) => s.at));
    expect(drainedAt).toBeLessThanOrEqual(firstServerStop);
    expect(existsSync(join(dir, 'pids.json'))).toBe(false);
  }, 60_000);

  it('keeps its data between runs, and --fresh starts empty', async () => {
    // The demo vdomain of the first run, from the line `up` printed.
    const firstDig = /dig \S+ -p \d+ (\S+)\.gw\.example\.net A \+subnet/.exec((up as Up).output())?.[1];
    expect(firstDig).toBeDefined();

    up = await startUp([]);
    expect(await routeStatus('kept')).toBe(200);
    expect(await demoVdomain()).toBe(firstDig);
    expect(up.output()).toContain(`${firstDig}.gw.example.net`);
    await sigintGroupAndWait(up);

    up = await startUp(['--fresh']);
    expect(await routeStatus('kept')).toBe(404);
    expect(await demoVdomain()).not.toBe(firstDig);
  }, 240_000);
});
