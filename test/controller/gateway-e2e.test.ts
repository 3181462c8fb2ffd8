import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, useServers, type ConsulServer } from '../harness/index.js';
import { spawnMeridian } from '../harness/cli.js';
import type { Deployment } from '../../src/core/model/index.js';
import type { Controller } from '../../controller/controller.js';
import type { ControllerStatus } from '../../controller/status.js';
import { sha256Hex } from '../../controller/api/auth.js';
import { EtcdStore } from '../../src/core/etcd-store.js';
import { call, GATEWAY_TOKEN, startController, waitFor } from './helpers.js';

// Real `meridian gateway` processes (one worker each), one per region, driven by the controller.
const servers = await useServers();
const dir = mkdtempSync(join(tmpdir(), 'meridian-e2e-'));
let ctl: Controller;
let base: string;
const gateways: Array<{ region: string; url: string; etcd: string; child: ReturnType<typeof spawnMeridian> }> = [];
const backends: Server[] = [];
let failV2 = false;

async function backend(name: string): Promise<number> {
  const s = createServer((_req, res) => {
    if (name === 'v2' && failV2) return void res.writeHead(500).end('v2 broken');
    res.end(name);
  });
  backends.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as { port: number }).port;
}

const get = async (url: string, headers: Record<string, string> = {}) => {
  try {
    const r = await fetch(url, { headers });
    return { status: r.status, text: await r.text() };
  } catch {
    return { status: 0, text: '' };
  }
};

beforeAll(async () => {
  const [central, eastEtcd, westEtcd, federation] = await Promise.all([servers.etcd(), servers.etcd(), servers.etcd(), servers.consulFederation(['east', 'west'])]);
  ctl = await startController(central.endpoint);
  base = ctl.url;
  const [v1, v2] = [await backend('v1'), await backend('v2')];
  for (const [region, etcd, consul] of [['east', eastEtcd, federation[0]], ['west', westEtcd, federation[1]]] as const) {
    const c = consul as ConsulServer;
    await call(base, 'PUT', `/v1/regions/${region}`, { body: { etcd: { endpoints: [etcd.endpoint] }, consul: { http: c.httpUrl, dns: `${c.dns.host}:${c.dns.port}`, datacenter: c.datacenter }, clusters: [{ name: 'c1' }] } });
    const [http, admin] = [await freePort(), await freePort()];
    const file = join(dir, `${region}.yaml`);
    writeFileSync(file, stringify({
      node: { name: 'n1', cluster: 'c1', region }, listen: { http: `127.0.0.1:${http}` }, workers: 1,
      admin: { listen: `127.0.0.1:${admin}`, token_hash: sha256Hex(GATEWAY_TOKEN) },
      config: { etcd: { endpoints: [etcd.endpoint] }, snapshot_file: join(dir, `${region}.snapshot.json`) },
    }));
    gateways.push({ region, url: `http://127.0.0.1:${http}`, etcd: etcd.endpoint, child: spawnMeridian(['gateway', '-c', file], { MERIDIAN_LOG_LEVEL: 'warn' }) });
  }
  await call(base, 'PUT', '/v1/upstreams/v1', { body: { nodes: [{ host: '127.0.0.1', port: v1 }] } });
  await call(base, 'PUT', '/v1/upstreams/v2', { body: { nodes: [{ host: '127.0.0.1', port: v2 }] } });
  await (federation[0] as ConsulServer).register({ id: 'shop-1', name: 'shop', address: '127.0.0.1', port: v1 });
});
afterAll(async () => {
  for (const g of gateways) if (g.child.exitCode === null) g.child.kill('SIGKILL');
  await ctl?.stop();
  for (const s of backends) s.close();
});

describe('controller with real gateway processes', () => {
  it('routes reach every region they are meant for; nodes report the revision they serve', async () => {
    await call(base, 'PUT', '/v1/routes/shop', { body: { paths: ['/shop'], upstream_id: 'v1' } });
    await call(base, 'PUT', '/v1/routes/east-only', { body: { paths: ['/east'], upstream_id: 'v1', regions: ['east'] } });
    await eventually(async () => (await Promise.all(gateways.map((g) => get(`${g.url}/shop`)))).every((r) => r.status === 200 && r.text === 'v1'), 60_000, 200);
    const [east, west] = gateways as [typeof gateways[0], typeof gateways[0]];
    expect((await get(`${east.url}/east`)).status).toBe(200);
    expect((await get(`${west.url}/east`)).status).toBe(404);
    const st = await waitFor(async () => {
      const s = (await call<ControllerStatus>(base, 'GET', '/v1/status')).body;
      return s.regions.every((r) => r.state === 'in_sync' && r.nodes.length === 1 && r.nodes[0]?.state === 'in_sync') && s;
    }, 15_000);
    expect(st.regions.map((r) => r.nodes[0]?.config_revision)).toEqual([st.config_revision, st.config_revision]);
  }, 90_000);

  it('a consumer written with a clear key and password is stored hashed in every regional etcd, and gateways still authenticate it', async () => {
    const [key, password] = ['e2e-key-0123456789', 'e2e-password'];
    await call(base, 'PUT', '/v1/consumers/dana', { body: { plugins: { 'key-auth': { key }, 'basic-auth': { username: 'dana', password } } } });
    await call(base, 'PUT', '/v1/routes/by-key', { body: { paths: ['/by-key'], upstream_id: 'v1', plugins: { 'key-auth': {} } } });
    await call(base, 'PUT', '/v1/routes/by-password', { body: { paths: ['/by-password'], upstream_id: 'v1', plugins: { 'basic-auth': {} } } });
    const basic = (user: string, pw: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` });
    for (const g of gateways) {
      await eventually(async () => (await get(`${g.url}/by-key`, { apikey: key })).status === 200, 30_000, 200);
      await eventually(async () => (await get(`${g.url}/by-password`, basic('dana', password))).status === 200, 30_000, 200);
      expect((await get(`${g.url}/by-key`, { apikey: 'e2e-key-wrong-0000' })).status).toBe(401);
      expect((await get(`${g.url}/by-password`, basic('dana', 'wrong'))).status).toBe(401);
      const regional = new EtcdStore({ endpoints: [g.etcd] });
      try {
        const all = Object.entries(await regional.client.getAll().prefix('/meridian/').strings());
        const stored = all.find(([k]) => k.endsWith('/consumers/dana'));
        expect(stored?.[1], g.region).toContain('"key_hash":"sha256:');
        expect(stored?.[1], g.region).toContain('"password_hash":"scrypt$');
        for (const [k, v] of all) expect(v.includes(key) || v.includes(password), `${g.region} ${k}`).toBe(false);
      } finally {
        await regional.stop();
      }
    }
  }, 60_000);

  it('drain is acked by every gateway node once all its workers applied the purge', async () => {
    const r = await call<{ acked: Array<{ region: string; workers: number; applied: number }> }>(base, 'POST', '/v1/drain', { body: { service: 'shop', instance: 'shop-1', datacenter: 'east' } });
    expect(r.status).toBe(200);
    expect(r.body.acked.map((a) => [a.region, a.workers, a.applied]).sort()).toEqual([['east', 1, 1], ['west', 1, 1]]);
  });

  it('a canary by header on real gateways is rolled back automatically from their metrics', async () => {
    await call(base, 'PUT', '/v1/deployments/canary', { body: { kind: 'backend', route: 'shop', from: 'v1', to: 'v2', steps: [10, 100], match: { header: 'x-canary', value: '1' }, rollback: { error_rate: 0.2, min_requests: 10 } } });
    await call(base, 'POST', '/v1/deployments/canary/start');
    const [east] = gateways as [typeof gateways[0]];
    await eventually(async () => (await get(`${east.url}/shop`, { 'x-canary': '1' })).text === 'v2', 15_000);
    // Let the leader take its baseline, then break the new side.
    await new Promise((r) => setTimeout(r, 500));
    failV2 = true;
    const d = await waitFor(async () => {
      await Promise.all(Array.from({ length: 5 }, () => get(`${east.url}/shop`, { 'x-canary': '1' })));
      const x = (await call<Deployment>(base, 'GET', '/v1/deployments/canary')).body;
      return x.state === 'rolled_back' && x;
    }, 20_000);
    expect(d.history.at(-1)?.detail).toMatch(/^automatic: error rate/);
    await eventually(async () => (await get(`${east.url}/shop`, { 'x-canary': '1' })).text === 'v1', 15_000);
  }, 60_000);
});
