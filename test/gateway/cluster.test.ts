import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdStore } from '../../src/core/etcd-store.js';
import { regionalKeys, type NodeRegistration } from '../../src/core/keys.js';
import { eventually, freePort, useServers, type EtcdServer } from '../harness/index.js';
import { spawnMeridian } from '../harness/cli.js';
import { send, startUpstream, type Upstream } from './helpers.js';

interface Status {
  state: string;
  config: { revision: number; routes: number; origin: string; last_rejection?: { reason: string } };
  workers: Array<{ pid: number; revision: number; routes: number }>;
  worker_restarts: number;
}

const TOKEN = 'purge-secret';

describe('gateway node with etcd, workers and snapshot', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  let up: Upstream;
  const dir = mkdtempSync(join(tmpdir(), 'meridian-gw-'));
  let gw: ReturnType<typeof spawnMeridian> | undefined;
  let port: number;
  let admin: string;
  let configFile: string;

  const status = async (): Promise<Status> => (await send(`${admin}/status`)).json<Status>();
  const start = async (): Promise<void> => {
    gw = spawnMeridian(['gateway', '-c', configFile], { MERIDIAN_LOG_LEVEL: 'warn' });
  };
  const stop = async (): Promise<void> => {
    if (!gw || gw.exitCode !== null) return;
    const exited = new Promise((r) => gw?.once('exit', r));
    gw.kill('SIGTERM');
    await exited;
  };

  beforeAll(async () => {
    const servers = await useServers();
    etcd = await servers.etcd();
    store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/meridian', timeoutMs: 2_000 });
    up = await startUpstream();
    port = await freePort();
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    configFile = join(dir, 'gateway.yaml');
    writeFileSync(configFile, JSON.stringify({
      node: { name: 'gw-1', cluster: 'c1', region: 'r1' },
      listen: { http: `127.0.0.1:${port}` },
      admin: { listen: `127.0.0.1:${adminPort}`, token_hash: createHash('sha256').update(TOKEN).digest('hex') },
      workers: 2,
      config: { source: 'etcd', etcd: { endpoints: [etcd.endpoint], timeout_ms: 1_000 }, snapshot_file: join(dir, 'snapshot.json'), debounce_ms: 20 },
      drain: { grace_ms: 100, timeout_ms: 5_000 },
      registration: { ttl_s: 5 },
    }));
    await store.put(regionalKeys.resource('upstreams', 'u1'), { id: 'u1', nodes: [{ host: '127.0.0.1', port: up.port }] });
    await store.put(regionalKeys.revision(), { central_revision: 1, written_at: new Date().toISOString() });
    await start();
    await eventually(async () => (await status()).workers.length === 2, 30_000, 200);
  });
  afterAll(async () => {
    await stop();
    await store.stop();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a route put in etcd on every worker', async () => {
    await store.put(regionalKeys.resource('routes', 'r1'), { id: 'r1', paths: ['/hello'], upstream_id: 'u1' });
    await store.put(regionalKeys.revision(), { central_revision: 2, written_at: new Date().toISOString() });
    await eventually(async () => {
      const s = await status();
      return s.workers.length === 2 && s.workers.every((w) => w.revision === 2 && w.routes === 1);
    }, 10_000);
    // Fresh connections are spread over the workers; every answer is the route's.
    for (let i = 0; i < 10; i++) expect((await send(`http://127.0.0.1:${port}/hello`)).status).toBe(200);
  });

  it('serves a changed route on every worker (sent to workers as a patch)', async () => {
    expect((await send(`http://127.0.0.1:${port}/hello2`)).status).toBe(404);
    await store.put(regionalKeys.resource('routes', 'r1'), { id: 'r1', paths: ['/hello', '/hello2'], upstream_id: 'u1' });
    await store.put(regionalKeys.revision(), { central_revision: 2, written_at: new Date().toISOString() });
    // Same revision number, changed route: the change itself must reach both workers.
    await eventually(async () => {
      for (let i = 0; i < 10; i++) if ((await send(`http://127.0.0.1:${port}/hello2`)).status !== 200) return false;
      return true;
    }, 10_000);
    const s = await status();
    expect(s.workers.every((w) => w.revision === 2 && w.routes === 1)).toBe(true);
  });

  it('registers itself in etcd under a lease with the revision it serves', async () => {
    const reg = await eventually(async () => {
      const e = await store.get<NodeRegistration>(regionalKeys.node('c1', 'gw-1'));
      return e?.value.config_revision === 2 ? e.value : undefined;
    }, 10_000);
    expect(reg).toMatchObject({ name: 'gw-1', cluster: 'c1', region: 'r1', address: `127.0.0.1:${port}`, admin });
  });

  it('rejects a bad config whole and keeps serving the last good one', async () => {
    await store.put(regionalKeys.resource('routes', 'r2'), { id: 'r2', paths: ['/other'], upstream_id: 'missing' });
    await store.put(regionalKeys.revision(), { central_revision: 3, written_at: new Date().toISOString() });
    const s = await eventually(async () => {
      const st = await status();
      return st.config.last_rejection ? st : undefined;
    }, 10_000);
    expect(s.config.last_rejection?.reason).toMatch(/unknown upstream_id missing/);
    expect(s.config.revision).toBe(2);
    expect(s.workers.every((w) => w.revision === 2)).toBe(true);
    expect((await send(`http://127.0.0.1:${port}/hello`)).status).toBe(200);
    expect((await send(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    await store.delete(regionalKeys.resource('routes', 'r2'));
  });

  it('aggregates metrics across workers', async () => {
    const text = (await send(`${admin}/metrics`)).body;
    const m = /meridian_http_requests_total\{route="r1",upstream="u1",code="200"\} (\d+)/.exec(text);
    expect(Number(m?.[1])).toBeGreaterThanOrEqual(11);
    expect(text).toMatch(/meridian_config_revision \d+/);
  });

  it('rejects a config whose consumer has a bad credential, with the exact reason in /status', async () => {
    await store.put(regionalKeys.resource('consumers', 'bob'), { username: 'bob', plugins: { 'key-auth': { key: 'short' } } });
    await store.put(regionalKeys.revision(), { central_revision: 4, written_at: new Date().toISOString() });
    try {
      const s = await eventually(async () => {
        const st = await status();
        return st.config.last_rejection?.reason.includes('consumer bob') ? st : undefined;
      }, 10_000);
      expect(s.config.last_rejection?.reason).toBe('config rejected: plugin key-auth at consumer bob: key: must be at least 8 characters');
      // Rejected whole: revision 4 is served nowhere.
      expect(s.config.revision).not.toBe(4);
      expect(s.workers.every((w) => w.revision !== 4)).toBe(true);
    } finally {
      await store.delete(regionalKeys.resource('consumers', 'bob'));
    }
  });

  it('serves the plugins\' metrics next to its own, summed over workers', async () => {
    await store.put(regionalKeys.resource('consumers', 'alice'), { username: 'alice', plugins: { 'key-auth': { key: 'alice-key-123456' } } });
    await store.put(regionalKeys.resource('routes', 'r3'), { id: 'r3', paths: ['/keyed'], upstream_id: 'u1', plugins: { 'key-auth': {} } });
    await store.put(regionalKeys.revision(), { central_revision: 5, written_at: new Date().toISOString() });
    await eventually(async () => (await status()).workers.every((w) => w.revision === 5), 10_000);
    // Fresh connections are spread over both workers.
    for (let i = 0; i < 10; i++) expect((await send(`http://127.0.0.1:${port}/keyed`)).status).toBe(401);
    expect((await send(`http://127.0.0.1:${port}/keyed`, { headers: { apikey: 'alice-key-123456' } })).status).toBe(200);
    const text = (await send(`${admin}/metrics`)).body;
    expect(text).toMatch(/meridian_plugin_auth_failures_total\{plugin="key-auth",route="r3"\} 10\n/);
    expect(text).toMatch(/meridian_http_requests_total\{route="r3",upstream="none",code="401"\} 10\n/);
  });

  it('fans a purge out to every worker, token-authenticated', async () => {
    expect((await send(`${admin}/admin/discovery/purge`, { method: 'POST', body: '{}' })).status).toBe(401);
    expect((await send(`${admin}/admin/discovery/purge`, { method: 'POST', body: '{}', headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const bad = await send(`${admin}/admin/discovery/purge`, { method: 'POST', body: JSON.stringify({ bogus: 1 }), headers: { authorization: `Bearer ${TOKEN}` } });
    expect(bad.status).toBe(400);
    const r = await send(`${admin}/admin/discovery/purge`, { method: 'POST', body: JSON.stringify({ service: 'api' }), headers: { authorization: `Bearer ${TOKEN}` } });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ workers: 2, applied: 2 });
    expect(typeof r.json().took_ms).toBe('number');
  });

  it('restarts a crashed worker', async () => {
    const before = await status();
    const victim = before.workers[0]?.pid as number;
    const revision = before.config.revision;
    process.kill(victim, 'SIGKILL');
    let last: Status | undefined;
    await eventually(async () => {
      const s = (last = await status());
      return s.worker_restarts >= 1 && s.workers.length === 2 && s.workers.every((w) => w.pid !== victim && w.revision === revision);
    }, 60_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}; status ${JSON.stringify(last)}; output ${gw?.output().slice(-2000)}`);
    });
  });

  it('boots from its snapshot with etcd stopped', async () => {
    const revision = (await status()).config.revision;
    await stop();
    await etcd.stop();
    try {
      await start();
      const s = await eventually(async () => {
        const st = await status();
        return st.workers.length === 2 && st.workers.every((w) => w.revision === revision) ? st : undefined;
      }, 30_000, 200);
      expect(s.config.origin).toBe('snapshot');
      expect((await send(`http://127.0.0.1:${port}/hello`)).status).toBe(200);
    } finally {
      await etcd.start();
    }
    // etcd back: the node picks the watch up again.
    await store.put(regionalKeys.resource('routes', 'r3'), { id: 'r3', paths: ['/later'], upstream_id: 'u1' });
    await store.put(regionalKeys.revision(), { central_revision: 9, written_at: new Date().toISOString() });
    await eventually(async () => (await send(`http://127.0.0.1:${port}/later`)).status === 200, 20_000, 200);
  });
});
