import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, useServers } from '../harness/index.js';
import { EtcdStore } from '../../src/core/etcd-store.js';
import type { Deployment, Route, VDomain } from '../../src/core/model/index.js';
import type { Controller } from '../../controller/controller.js';
import { call, FakeGatewayNode, waitFor, startController, TOKENS } from './helpers.js';

// Gateway /metrics come from stand-in admin listeners (FakeGatewayNode): the gateway is not built yet.
const servers = await useServers();
let ctl: Controller;
let base: string;
let regional: EtcdStore;
const nodes: FakeGatewayNode[] = [];
let vdomain = '';

beforeAll(async () => {
  const [central, eastEtcd] = await Promise.all([servers.etcd(), servers.etcd()]);
  ctl = await startController(central.endpoint);
  base = ctl.url;
  regional = new EtcdStore({ endpoints: [eastEtcd.endpoint] });
  await call(base, 'PUT', '/v1/regions/east', { body: { etcd: { endpoints: [eastEtcd.endpoint] }, clusters: [{ name: 'blue' }, { name: 'green' }] } });
  for (const [cluster, name] of [['blue', 'b1'], ['green', 'g1']] as const) {
    const n = new FakeGatewayNode('east', cluster, name);
    await n.start(eastEtcd.endpoint);
    nodes.push(n);
  }
  vdomain = ((await call<{ value: { uuid: string } }>(base, 'POST', '/v1/vdomains', { body: { policy: { type: 'pinned', clusters: ['east/blue'] } } })).body.value.uuid);
  for (const u of ['v1', 'v2']) await call(base, 'PUT', `/v1/upstreams/${u}`, { body: { discovery: { type: 'consul', service: 'shop', tags: [u] } } });
  await call(base, 'PUT', '/v1/routes/shop', { body: { paths: ['/shop'], upstream_id: 'v1' } });
});
afterAll(async () => {
  for (const n of nodes) await n.stop();
  await ctl?.stop();
  await regional?.stop();
});

const policy = async () => (await call<VDomain>(base, 'GET', `/v1/vdomains/${vdomain}`)).body.policy;
const route = async () => (await call<Route>(base, 'GET', '/v1/routes/shop')).body;
const deployment = async (id: string) => (await call<Deployment>(base, 'GET', `/v1/deployments/${id}`)).body;

describe('gateway-level blue-green', () => {
  it('moves a virtual domain between clusters by steps with promote; history kept', async () => {
    const created = await call(base, 'POST', '/v1/deployments', { token: TOKENS.write, body: { id: 'gw-up', kind: 'gateway', vdomain, from: 'east/blue', to: 'east/green', steps: [10, 50, 100] } });
    expect(created.status).toBe(201);
    let r = await call<{ deployment: Deployment }>(base, 'POST', '/v1/deployments/gw-up/start', { token: TOKENS.write });
    expect(r.body.deployment).toMatchObject({ state: 'running', step: 0 });
    expect(await policy()).toEqual({ type: 'weighted', weights: { 'east/blue': 90, 'east/green': 10 } });
    // The spec of a started deployment is frozen; a second start is refused.
    expect((await call(base, 'PUT', '/v1/deployments/gw-up', { body: { kind: 'gateway', vdomain, from: 'east/blue', to: 'east/green', steps: [20, 100] } })).status).toBe(409);
    expect((await call(base, 'POST', '/v1/deployments/gw-up/start')).body.code).toBe('MERIDIAN_ERR_CONTROLLER_DEPLOY_STATE');
    // The target cannot be deleted while a deployment holds it.
    expect((await call(base, 'DELETE', `/v1/vdomains/${vdomain}`)).status).toBe(409);

    await call(base, 'POST', '/v1/deployments/gw-up/promote');
    expect(await policy()).toEqual({ type: 'weighted', weights: { 'east/blue': 50, 'east/green': 50 } });
    r = await call(base, 'POST', '/v1/deployments/gw-up/promote');
    expect(r.body.deployment.state).toBe('promoted');
    expect(await policy()).toEqual({ type: 'weighted', weights: { 'east/blue': 0, 'east/green': 100 } });
    expect((await deployment('gw-up')).history.map((h) => h.event)).toEqual(['created', 'started', 'step', 'step', 'step', 'promoted']);
    expect((await call(base, 'POST', '/v1/deployments/gw-up/rollback')).status).toBe(409);
  });

  it('a manual rollback restores the policy the virtual domain had before', async () => {
    await call(base, 'PUT', `/v1/vdomains/${vdomain}`, { body: { policy: { type: 'pinned', clusters: ['east/green'] } } });
    await call(base, 'PUT', '/v1/deployments/gw-back', { body: { kind: 'gateway', vdomain, from: 'east/green', to: 'east/blue', steps: [25, 100] } });
    await call(base, 'POST', '/v1/deployments/gw-back/start');
    expect(await policy()).toEqual({ type: 'weighted', weights: { 'east/green': 75, 'east/blue': 25 } });
    const r = await call<{ deployment: Deployment }>(base, 'POST', '/v1/deployments/gw-back/rollback', { body: { reason: 'latency up' } });
    expect(r.body.deployment.state).toBe('rolled_back');
    expect(r.body.deployment.history.at(-1)).toMatchObject({ event: 'rolled_back', detail: 'latency up' });
    expect(await policy()).toEqual({ type: 'pinned', clusters: ['east/green'] });
  });
});

describe('backend-level canary', () => {
  it('splits a route by weight and header, and rolls back by itself when the new side fails', async () => {
    await call(base, 'PUT', '/v1/deployments/canary', { body: { kind: 'backend', route: 'shop', from: 'v1', to: 'v2', steps: [5, 50, 100], match: { header: 'x-canary', value: '1' }, rollback: { error_rate: 0.1, min_requests: 20 } } });
    // Healthy traffic before the start: the leader takes its baseline from the gateways' counters.
    const [b1, g1] = nodes as [FakeGatewayNode, FakeGatewayNode];
    b1.counters.set('shop|v2|200', 40);
    g1.counters.set('shop|v1|500', 1000); // errors of the old side never count
    await call(base, 'POST', '/v1/deployments/canary/start');
    expect((await route()).split).toEqual({ upstream_id: 'v2', weight: 5, match: [{ source: 'header', name: 'x-canary', op: 'eq', value: '1' }] });
    // Another deployment on the same route is refused while this one runs.
    await call(base, 'PUT', '/v1/deployments/other', { body: { kind: 'backend', route: 'shop', from: 'v1', to: 'v2' } });
    expect((await call(base, 'POST', '/v1/deployments/other/start')).body.code).toBe('MERIDIAN_ERR_CONTROLLER_DEPLOY_BUSY');

    await new Promise((r) => setTimeout(r, 600));
    expect((await deployment('canary')).state).toBe('running');
    b1.counters.set('shop|v2|200', 50);
    g1.counters.set('shop|v2|503', 6);
    g1.counters.set('shop|v2|200', 10); // since baseline: 26 requests, 6 errors = 23%
    const d = await waitFor(async () => {
      const x = await deployment('canary');
      return x.state === 'rolled_back' && x;
    }, 10_000);
    expect(d.history.at(-1)?.detail).toMatch(/^automatic: error rate 23\.1% over 26 requests > 10\.0%$/);
    expect((await route()).split).toBeUndefined();
    expect((await route()).upstream_id).toBe('v1');
  });

  it('advances on a timer and, once promoted, leaves the route on the new upstream', async () => {
    await call(base, 'PUT', '/v1/deployments/timed', { body: { kind: 'backend', route: 'shop', from: 'v1', to: 'v2', steps: [50, 100], interval_s: 1 } });
    await call(base, 'POST', '/v1/deployments/timed/start');
    expect((await route()).split?.weight).toBe(50);
    const d = await waitFor(async () => {
      const x = await deployment('timed');
      return x.state === 'promoted' && x;
    }, 10_000);
    expect(d.history.find((h) => h.event === 'step' && h.detail?.includes('timer'))).toBeTruthy();
    const r = await route();
    expect(r.upstream_id).toBe('v2');
    expect(r.split).toBeUndefined();
    // The route change reached the region's etcd.
    await eventually(async () => ((await regional.get<Route>('config/routes/shop'))?.value.upstream_id === 'v2'), 10_000);
  });
});
