import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServers } from '../harness/index.js';
import type { Controller } from '../../controller/controller.js';
import type { DeploymentLive } from '../../controller/deploy/live.js';
import { call, FakeGatewayNode, startController, TOKENS } from './helpers.js';

// GET /v1/deployments/{id}/live from stand-in gateway admin listeners whose /metrics counters
// the test sets (the browser test in console-ops.test.ts does it with a real gateway's traffic).
const servers = await useServers();
let ctl: Controller;
const node = new FakeGatewayNode('east', 'c1', 'gw1');

beforeAll(async () => {
  const [central, east] = await Promise.all([servers.etcd(), servers.etcd()]);
  ctl = await startController(central.endpoint);
  await call(ctl.url, 'PUT', '/v1/regions/east', { body: { etcd: { endpoints: [east.endpoint] }, clusters: [{ name: 'c1' }] } });
  await node.start(east.endpoint);
  for (const u of ['v1', 'v2']) await call(ctl.url, 'PUT', `/v1/upstreams/${u}`, { body: { nodes: [{ host: '127.0.0.1', port: 9 }] } });
  await call(ctl.url, 'PUT', '/v1/routes/shop', { body: { paths: ['/shop'], upstream_id: 'v1' } });
  await call(ctl.url, 'POST', '/v1/deployments', { body: { id: 'canary', kind: 'backend', route: 'shop', from: 'v1', to: 'v2', steps: [20, 100] } });
});
afterAll(async () => {
  await node.stop();
  await ctl?.stop();
});

const live = () => call<DeploymentLive>(ctl.url, 'GET', '/v1/deployments/canary/live', { token: TOKENS.read }).then((r) => r.body);

describe('GET /v1/deployments/{id}/live', () => {
  it('per side: the step\'s weight, and requests/s and 5xx share between two scrapes of the gateways\' metrics', async () => {
    const pending = await live();
    expect(pending.sides.map((s) => [s.side, s.name, s.weight])).toEqual([['from', 'v1', 100], ['to', 'v2', 0]]);
    await call(ctl.url, 'POST', '/v1/deployments/canary/start', { token: TOKENS.write });
    node.counters.set('shop|v1|200', 1_000).set('shop|v2|200', 50).set('other|v2|500', 999);
    // The first scrape of a run is the baseline: no rates yet.
    const first = await live();
    expect(first).toMatchObject({ state: 'running', window_ms: null, nodes: { registered: 1, scraped: 1 } });
    expect(first.sides.map((s) => [s.weight, s.rps, s.error_rate])).toEqual([[80, null, null], [20, null, null]]);

    node.counters.set('shop|v1|200', 1_080).set('shop|v1|502', 0).set('shop|v2|200', 62).set('shop|v2|500', 8).set('other|v2|500', 5_000);
    // A scrape within a second of the last reuses it: poll until a new one spans the change.
    await expect.poll(async () => (await live()).sides[1].requests, { timeout: 5_000, interval: 300 }).toBe(20);
    const now = await live();
    const [from, to] = now.sides;
    expect([from.requests, from.errors, from.error_rate]).toEqual([80, 0, 0]);
    // Only the route's requests to v2 count (the 500s of another route do not).
    expect([to.requests, to.errors, to.error_rate]).toEqual([20, 8, 0.4]);
    expect(now.window_ms).toBeGreaterThanOrEqual(1_000);
    expect(to.rps).toBeCloseTo(20 / ((now.window_ms as number) / 1000), 5);
  });

  it('a node whose counters went down restarted: its new value is its delta; unknown id 404', async () => {
    node.counters.clear();
    node.counters.set('shop|v2|200', 3).set('shop|v2|503', 1);
    await expect.poll(async () => (await live()).sides[1].requests, { timeout: 5_000, interval: 300 }).toBe(4);
    expect((await live()).sides[1]).toMatchObject({ errors: 1, error_rate: 0.25 });
    expect((await call(ctl.url, 'GET', '/v1/deployments/nothing/live')).status).toBe(404);
  });
});
