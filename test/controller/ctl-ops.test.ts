import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, useServers, type ConsulServer } from '../harness/index.js';
import type { Deployment, Route } from '../../src/core/model/index.js';
import type { Controller } from '../../controller/controller.js';
import type { ControllerStatus } from '../../controller/status.js';
import { call, FakeGatewayNode, runCtl, startController, TOKENS } from './helpers.js';

// `meridian ctl` as a process against a controller on real etcd (central and regional) and a
// real Consul; the gateway nodes are the purge stand-ins of helpers.ts.
const servers = await useServers();
let ctl: Controller;
let consul: ConsulServer;
let health: Server;
let healthUrl = '';
let follower: NodeJS.Timeout | undefined;
const nodes: FakeGatewayNode[] = [];

beforeAll(async () => {
  const [central, eastEtcd, c] = await Promise.all([servers.etcd(), servers.etcd(), servers.consul('east')]);
  consul = c;
  ctl = await startController(central.endpoint, { delegated_zones: ['shop.example'] });
  await call(ctl.url, 'PUT', '/v1/regions/east', { body: { etcd: { endpoints: [eastEtcd.endpoint] }, consul: { http: consul.httpUrl, dns: `${consul.dns.host}:${consul.dns.port}`, datacenter: 'east' }, clusters: [{ name: 'c1' }] } });
  for (const n of ['n1', 'n2']) {
    const node = new FakeGatewayNode('east', 'c1', n);
    await node.start(eastEtcd.endpoint);
    nodes.push(node);
  }
  // The stand-in nodes take each revision the region's etcd holds, as gateways do.
  follower = setInterval(() => {
    void call<ControllerStatus>(ctl.url, 'GET', '/v1/status').then(async (r) => {
      const applied = r.body.regions?.[0]?.applied_revision ?? 0;
      for (const n of nodes) await n.register(applied);
    }).catch(() => undefined);
  }, 100);
  // The instance's HTTP health check target.
  health = createServer((_req, res) => res.writeHead(200).end('ok'));
  await new Promise<void>((r) => health.listen(0, '127.0.0.1', () => r()));
  healthUrl = `http://127.0.0.1:${(health.address() as AddressInfo).port}/health`;
  await call(ctl.url, 'PUT', '/v1/upstreams/api', { body: { discovery: { type: 'consul', service: 'api' } } });
});
afterAll(async () => {
  if (follower) clearInterval(follower);
  for (const n of nodes) await n.stop();
  await ctl?.stop();
  await new Promise<void>((r) => (health ? health.close(() => r()) : r()));
});

const meridianCtl = (args: string[], token: string | null = TOKENS.admin) => runCtl(ctl.url, args, { token });

describe('ctl vdomain bind: the zones Meridian DNS serves', () => {
  it('a name in a delegated zone is bound; in the gateway zone or at a zone apex it is refused naming the zones; outside every zone it warns with the CNAME', async () => {
    const uuid = (await call<{ value: { uuid: string } }>(ctl.url, 'POST', '/v1/vdomains', { body: { policy: { type: 'nearest' } } })).body.value.uuid;
    const [served, inGateway, apex, outside] = await Promise.all([
      meridianCtl(['vdomain', 'bind', 'api.shop.example', uuid]),
      meridianCtl(['vdomain', 'bind', 'x.gw.example.net', uuid]),
      meridianCtl(['vdomain', 'bind', 'shop.example', uuid]),
      meridianCtl(['vdomain', 'bind', 'api.other.example', uuid, '-o', 'json']),
    ]);
    expect(served.code, served.stderr).toBe(0);
    expect(served.stderr).toBe('');
    expect(served.stdout).toContain(`api.shop.example. 300 IN CNAME ${uuid}.gw.example.net.`);

    expect(inGateway.code).toBe(8);
    expect(inGateway.stderr).toBe('error: binding x.gw.example.net cannot be answered: it is in the gateway zone gw.example.net, whose names are answered from virtual domains only; Meridian DNS serves gw.example.net (virtual domains), delegated: shop.example [MERIDIAN_ERR_CONTROLLER_BINDING_ZONE]\n');
    expect(apex.code).toBe(8);
    expect(apex.stderr).toContain('it is the apex of the delegated zone shop.example');
    expect((await call(ctl.url, 'GET', '/v1/bindings/x.gw.example.net')).status).toBe(404);

    expect(outside.code, outside.stderr).toBe(0);
    const record = `api.other.example. 300 IN CNAME ${uuid}.gw.example.net.`;
    expect(outside.stderr).toBe(`warning: api.other.example is outside the zones Meridian DNS serves (gw.example.net (virtual domains), delegated: shop.example), which answers REFUSED for it: publish this record at the DNS serving api.other.example: ${record}\n`);
    expect(JSON.parse(outside.stdout)).toMatchObject({ result: 'created', warning: expect.stringContaining(record) as unknown });
  }, 60_000);
});

describe('ctl drain and undrain', () => {
  const catalog = async () => (await consul.client.healthService('api', { dc: 'east' })).value.find((i) => i.id === 'api-1');

  it('drain shows each stage and ack on stderr; undrain registers the instance again with its check and purges the gateways', async () => {
    await consul.register({ id: 'api-1', name: 'api', address: '127.0.0.1', port: 9001, tags: ['v1'], meta: { team: 'shop' }, check: { http: healthUrl, interval: '1s', timeout: '1s' } });
    await eventually(async () => (await catalog())?.status === 'passing', 15_000);

    const drained = await meridianCtl(['drain', '--service', 'api', '--instance', 'api-1', '--datacenter', 'east']);
    expect(drained.code, drained.stderr).toBe(0);
    const lines = drained.stderr.trim().split('\n');
    expect(lines[0]).toBe('deregistered api/api-1 from Consul east (registration recorded for undrain)');
    expect(lines[1]).toBe("Consul's catalog no longer lists api-1");
    expect(lines.slice(2).sort()).toEqual([expect.stringMatching(/^east\/c1\/n1: acked in \d+ ms$/), expect.stringMatching(/^east\/c1\/n2: acked in \d+ ms$/)]);
    // stdout holds the result only.
    expect(drained.stdout).toMatch(/^drained api\/api-1: 2 gateway node\(s\) acked in \d+ ms\n$/);
    expect(await catalog()).toBeUndefined();

    const purgesBefore = nodes.map((n) => n.purges.length);
    const undrained = await meridianCtl(['undrain', '--instance', 'api-1', '--datacenter', 'east', '-o', 'json']);
    expect(undrained.code, undrained.stderr).toBe(0);
    expect(undrained.stderr).toContain('registered api/api-1 again in Consul east with 1 check(s)\n');
    expect(undrained.stderr).toContain('api-1 passes its checks\n');
    expect(undrained.stderr).toMatch(/east\/c1\/n1: acked in \d+ ms/);
    expect(JSON.parse(undrained.stdout)).toMatchObject({ undrained: true, complete: true, registered: true, service: 'api', checks: ['service:api-1'], checks_not_restored: [], passing: true });

    // Back in Consul's catalog as it was, with its HTTP check passing.
    expect(await catalog()).toMatchObject({ address: '127.0.0.1', port: 9001, tags: ['v1'], status: 'passing' });
    const checks = (await (await fetch(`${consul.httpUrl}/v1/health/checks/api`)).json()) as Array<{ CheckID: string; Type: string; Status: string }>;
    expect(checks).toEqual([expect.objectContaining({ CheckID: 'service:api-1', Type: 'http', Status: 'passing' })]);
    const svc = (await (await fetch(`${consul.httpUrl}/v1/agent/service/api-1`)).json()) as { Meta: Record<string, string> };
    expect(svc.Meta.team).toBe('shop');
    // Every gateway node was told to resolve the whole service again (the leader's Consul
    // watch adds purges of the instance itself; those name it).
    nodes.forEach((n, i) => expect(n.purges.slice(purgesBefore[i])).toContainEqual(expect.objectContaining({ body: { service: 'api', datacenter: 'east' } })));

    // The record is used up: a second undrain has nothing to undo.
    const again = await meridianCtl(['undrain', '--instance', 'api-1', '--datacenter', 'east']);
    expect(again.code).toBe(3);
    expect(again.stderr).toBe('error: no recorded drain of api-1 in datacenter east: nothing to undo [MERIDIAN_ERR_CONTROLLER_NO_DRAIN]\n');
  }, 60_000);
});

describe('ctl deploy: a rolled-back deployment starts again; --wait shows progress', () => {
  const route = async () => (await call<Route>(ctl.url, 'GET', '/v1/routes/shop')).body;

  it('start, rollback, start again (from step 0), rollback restores the route; a promoted one is final', async () => {
    await call(ctl.url, 'PUT', '/v1/upstreams/api-v2', { body: { discovery: { type: 'consul', service: 'api', tags: ['v2'] } } });
    await call(ctl.url, 'PUT', '/v1/routes/shop', { body: { paths: ['/shop'], upstream_id: 'api' } });
    await call(ctl.url, 'PUT', '/v1/deployments/again', { body: { kind: 'backend', route: 'shop', from: 'api', to: 'api-v2', steps: [10, 50, 100] } });
    expect((await meridianCtl(['deploy', 'start', 'again'])).code).toBe(0);
    expect((await meridianCtl(['deploy', 'promote', 'again'])).stdout).toBe('deployment again: running, step 2/3: 50% on api-v2\n');
    expect((await meridianCtl(['deploy', 'rollback', 'again', '--reason', 'p99 up'])).code).toBe(0);
    expect((await route()).split).toBeUndefined();

    // A rolled-back deployment's spec may change before it starts again.
    expect((await call(ctl.url, 'PUT', '/v1/deployments/again', { body: { kind: 'backend', route: 'shop', from: 'api', to: 'api-v2', steps: [20, 100] } })).status).toBe(200);
    const restarted = await meridianCtl(['deploy', 'start', 'again']);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(restarted.stdout).toBe('deployment again: running, step 1/2: 20% on api-v2\n');
    expect((await route()).split).toEqual({ upstream_id: 'api-v2', weight: 20 });
    const d = (await call<Deployment>(ctl.url, 'GET', '/v1/deployments/again')).body;
    expect(d.history.map((h) => h.event)).toEqual(['created', 'started', 'step', 'step', 'rolled_back', 'restarted', 'started', 'step']);

    expect((await meridianCtl(['deploy', 'rollback', 'again'])).code).toBe(0);
    expect((await route()).split).toBeUndefined();
    expect((await meridianCtl(['deploy', 'start', 'again'])).code).toBe(0);
    expect((await meridianCtl(['deploy', 'promote', 'again'])).stdout).toBe('deployment again: promoted\n');
    expect((await route()).upstream_id).toBe('api-v2');
    const final = await meridianCtl(['deploy', 'start', 'again']);
    expect(final.code).toBe(4);
    expect(final.stderr).toBe('error: deployment again is promoted: cannot start [MERIDIAN_ERR_CONTROLLER_DEPLOY_STATE]\n');
  }, 60_000);

  it('deploy start --wait: a line per region as its nodes serve each step, then each timed step until promoted, on stderr', async () => {
    await call(ctl.url, 'PUT', '/v1/routes/timed', { body: { paths: ['/timed'], upstream_id: 'api' } });
    await call(ctl.url, 'PUT', '/v1/deployments/timed', { body: { kind: 'backend', route: 'timed', from: 'api', to: 'api-v2', steps: [10, 100], interval_s: 1 } });
    const run = await meridianCtl(['deploy', 'start', 'timed', '--wait', '--timeout', '30000']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('deployment timed: running, step 1/2: 10% on api-v2\n');
    const lines = run.stderr.trim().split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^east: serves revision \d+: config at \d+, 2\/2 node\(s\)$/));
    expect(lines).toContain('deployment timed: step 100% to api-v2 (timer: 1s)');
    expect(lines).toContainEqual(expect.stringMatching(/^deployment timed: promoted all traffic on api-v2/));
    expect(lines.at(-1)).toBe('deployment timed: promoted');
    // The promotion's revision was waited for as well: a serves line follows the step lines.
    expect(lines.findLastIndex((l) => l.startsWith('east: serves'))).toBeGreaterThan(lines.indexOf('deployment timed: step 100% to api-v2 (timer: 1s)'));
  }, 60_000);
});
