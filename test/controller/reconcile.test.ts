import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, useServers, type EtcdServer } from '../harness/index.js';
import { EtcdStore } from '../../src/core/etcd-store.js';
import { regionalKeys, type RegionalRevision } from '../../src/core/keys.js';
import type { Controller } from '../../controller/controller.js';
import type { ControllerStatus } from '../../controller/status.js';
import { call, FakeGatewayNode, waitFor, startController } from './helpers.js';

const servers = await useServers();
let ctl: Controller;
let base: string;
let east: EtcdServer;
let west: EtcdServer;
let eastStore: EtcdStore;
let westStore: EtcdStore;
const nodes: FakeGatewayNode[] = [];

beforeAll(async () => {
  const [central, e, w] = await Promise.all([servers.etcd(), servers.etcd(), servers.etcd()]);
  east = e;
  west = w;
  ctl = await startController(central.endpoint);
  base = ctl.url;
  eastStore = new EtcdStore({ endpoints: [east.endpoint] });
  westStore = new EtcdStore({ endpoints: [west.endpoint] });
});
afterAll(async () => {
  for (const n of nodes) await n.stop();
  await ctl?.stop();
  await eastStore?.stop();
  await westStore?.stop();
});

const keysOf = async (s: EtcdStore) => [...(await s.snapshot('config/')).entries.keys()].sort();
const status = async () => (await call<ControllerStatus>(base, 'GET', '/v1/status')).body;
const regionState = async (name: string) => (await status()).regions.find((r) => r.region === name);

describe('reconciler', () => {
  it('writes each region only what is meant for it, with the central revision', async () => {
    await eventually(() => ctl.isLeader, 10_000);
    for (const [name, etcd] of [['east', east], ['west', west]] as const) {
      expect((await call(base, 'PUT', `/v1/regions/${name}`, { body: { etcd: { endpoints: [etcd.endpoint] }, clusters: [{ name: 'c1' }] } })).status).toBe(201);
    }
    await call(base, 'PUT', '/v1/upstreams/u1', { body: { nodes: [{ host: '127.0.0.1', port: 8080 }] } });
    await call(base, 'PUT', '/v1/routes/everywhere', { body: { paths: ['/a'], upstream_id: 'u1' } });
    const last = await call(base, 'PUT', '/v1/routes/east-only', { body: { paths: ['/e'], upstream_id: 'u1', regions: ['east'] } });
    const rev = Number(last.body.revision);

    await eventually(async () => (await keysOf(eastStore)).includes('config/routes/east-only'), 10_000);
    expect(await keysOf(eastStore)).toEqual(['config/_revision', 'config/routes/east-only', 'config/routes/everywhere', 'config/upstreams/u1']);
    await eventually(async () => (await keysOf(westStore)).includes('config/routes/everywhere'), 10_000);
    expect(await keysOf(westStore)).toEqual(['config/_revision', 'config/routes/everywhere', 'config/upstreams/u1']);
    const applied = (await westStore.get<RegionalRevision>(regionalKeys.revision()))?.value;
    expect(applied?.central_revision).toBeGreaterThanOrEqual(rev);
    expect((await eastStore.get('config/routes/east-only'))?.value).toMatchObject({ id: 'east-only', paths: ['/e'], priority: 0 });

    // A route moved out of a region disappears from it.
    await call(base, 'PUT', '/v1/routes/everywhere', { body: { paths: ['/a'], upstream_id: 'u1', regions: ['east'] } });
    await eventually(async () => !(await keysOf(westStore)).includes('config/routes/everywhere'), 10_000);
  });

  it('status shows regions and nodes in sync or behind, from the nodes\' own registrations', async () => {
    await eventually(async () => (await status()).regions.every((r) => r.state === 'in_sync'), 10_000);
    const node = new FakeGatewayNode('east', 'c1', 'n1');
    nodes.push(node);
    await node.start(east.endpoint, 1);
    let r = await waitFor(async () => (await regionState('east'))?.nodes.length === 1 && regionState('east'), 5_000);
    expect(r.nodes[0]).toMatchObject({ cluster: 'c1', name: 'n1', state: 'behind', config_revision: 1 });
    const applied = (await eastStore.get<RegionalRevision>(regionalKeys.revision()))?.value?.central_revision ?? 0;
    await node.register(applied);
    r = await waitFor(async () => (await regionState('east'))?.nodes[0]?.state === 'in_sync' && regionState('east'), 5_000);
    expect(r.applied_revision).toBe(applied);
  });

  it('a region whose etcd is down is unreachable, retried with backoff, and caught up when it returns', async () => {
    await west.kill();
    await call(base, 'PUT', '/v1/routes/during-outage', { body: { paths: ['/o'], upstream_id: 'u1' } });
    // The other region is not held back.
    await eventually(async () => (await keysOf(eastStore)).includes('config/routes/during-outage'), 10_000);
    const down = await waitFor(async () => {
      const w = await regionState('west');
      return w?.state === 'unreachable' && (w.reconciler?.failures ?? 0) >= 2 && w;
    }, 15_000);
    expect(down.reconciler?.last_error).toBeTruthy();
    expect(down.reconciler?.next_retry_at).toBeTruthy();

    await west.start();
    const t0 = Date.now();
    await eventually(async () => (await keysOf(westStore)).includes('config/routes/during-outage'), 20_000);
    const caughtUpMs = Date.now() - t0;
    const w = await waitFor(async () => (await regionState('west'))?.state === 'in_sync' && regionState('west'), 10_000);
    expect(w.applied_revision).toBe(w.desired_revision);
    console.log(`[reconcile] west caught up ${caughtUpMs} ms after its etcd was started again`);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/meridian_controller_region_revisions_behind\{region="west"\} 0/);
  });
});
