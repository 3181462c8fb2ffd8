import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, useServers, type ConsulServer } from '../harness/index.js';
import type { Controller } from '../../controller/controller.js';
import { call, FakeGatewayNode, GATEWAY_TOKEN, startController } from './helpers.js';

// The gateway (src/gateway) is not built yet: its admin listeners are stand-ins that implement
// exactly the purge contract (helpers.ts FakeGatewayNode). Consul and etcd are the real servers.
const servers = await useServers();
let ctl: Controller;
let base: string;
let consulEast: ConsulServer;
const nodes: FakeGatewayNode[] = [];

beforeAll(async () => {
  const [central, eastEtcd, westEtcd, federation] = await Promise.all([servers.etcd(), servers.etcd(), servers.etcd(), servers.consulFederation(['east', 'west'])]);
  const [ce, cw] = federation as [ConsulServer, ConsulServer];
  consulEast = ce;
  ctl = await startController(central.endpoint);
  base = ctl.url;
  for (const [name, etcd, consul] of [['east', eastEtcd, ce], ['west', westEtcd, cw]] as const) {
    await call(base, 'PUT', `/v1/regions/${name}`, { body: { etcd: { endpoints: [etcd.endpoint] }, consul: { http: consul.httpUrl, dns: `${consul.dns.host}:${consul.dns.port}`, datacenter: consul.datacenter }, clusters: [{ name: 'c1' }] } });
    for (const n of ['n1', 'n2']) {
      const node = new FakeGatewayNode(name, 'c1', n);
      await node.start(etcd.endpoint);
      nodes.push(node);
    }
  }
  for (const id of ['api-1', 'api-2']) await ce.register({ id, name: 'api', address: '127.0.0.1', port: id === 'api-1' ? 9001 : 9002 });
  await call(base, 'PUT', '/v1/upstreams/api', { body: { discovery: { type: 'consul', service: 'api' } } });
});
afterAll(async () => {
  for (const n of nodes) await n.stop();
  await ctl?.stop();
});

describe('Consul watch -> purge', () => {
  it('a new instance in one datacenter purges every gateway node of every region', async () => {
    await eventually(() => (ctl.watches?.watching().length ?? 0) === 2, 10_000);
    // Let each blocking query take its baseline first.
    await new Promise((r) => setTimeout(r, 500));
    await consulEast.register({ id: 'api-3', name: 'api', address: '127.0.0.1', port: 9003 });
    await eventually(() => nodes.every((n) => n.purges.some((p) => p.body.instance === '127.0.0.1:9003')), 10_000);
    for (const n of nodes) {
      const p = n.purges.find((x) => x.body.instance === '127.0.0.1:9003');
      expect(p?.body).toEqual({ service: 'api', datacenter: 'east', instance: '127.0.0.1:9003' });
      expect(p?.auth).toBe(`Bearer ${GATEWAY_TOKEN}`);
    }
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/meridian_controller_purge_total\{result="ok",trigger="consul"\} [1-9]/);
    expect(metrics).toMatch(/meridian_controller_consul_change_to_ack_seconds_count [1-9]/);
  });
});

describe('drain', () => {
  it('deregisters, purges every node and answers once all acked', async () => {
    const t0 = performance.now();
    const r = await call<{ drained: boolean; acked: unknown[]; not_acked: unknown[]; deregistered: boolean }>(base, 'POST', '/v1/drain', { body: { service: 'api', instance: 'api-1', datacenter: 'east' } });
    const ms = performance.now() - t0;
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ drained: true, complete: true, deregistered: true, not_acked: [] });
    expect(r.body.acked).toHaveLength(4);
    const answeredAt = Date.now();
    // Every node had its purge before the answer; Consul no longer lists the instance.
    for (const n of nodes) expect(n.purges.some((p) => p.body.instance === '127.0.0.1:9001' && p.at <= answeredAt)).toBe(true);
    const left = await consulEast.client.healthService('api', { dc: 'east' });
    expect(left.value.map((i) => i.id)).not.toContain('api-1');
    console.log(`[drain] 2 regions x 2 nodes acked in ${ms.toFixed(1)} ms`);
  });

  it('names the nodes that did not ack before the deadline (504); draining again is harmless', async () => {
    const silent = nodes[3] as FakeGatewayNode;
    const partial = nodes[1] as FakeGatewayNode;
    silent.mode = 'silent';
    partial.mode = 'partial';
    try {
      const t0 = performance.now();
      const r = await call<{ code: string; message: string; acked: unknown[]; not_acked: Array<{ node: string; error: string }> }>(base, 'POST', '/v1/drain', { token: 'tok-write', body: { service: 'api', instance: 'api-2', datacenter: 'east', timeout_ms: 400 } });
      const ms = performance.now() - t0;
      expect(r.status).toBe(504);
      expect(r.body.code).toBe('MERIDIAN_ERR_CONTROLLER_DRAIN_INCOMPLETE');
      expect(r.body.message).toBe('drain of api/api-2: 2 gateway node(s) did not ack within 400 ms: east/c1/n2 (only 1 of 2 workers applied the purge), west/c1/n2 (no ack before the deadline)');
      expect(r.body.acked).toHaveLength(2);
      expect(ms).toBeLessThan(1_500);
    } finally {
      silent.mode = 'ack';
      partial.mode = 'ack';
    }
    const again = await call(base, 'POST', '/v1/drain', { body: { service: 'api', instance: 'api-2', datacenter: 'east' } });
    expect(again.body).toMatchObject({ drained: true, deregistered: false });
  });

  it('rejects an unknown datacenter and a bad body', async () => {
    expect((await call(base, 'POST', '/v1/drain', { body: { service: 'api', instance: 'x', datacenter: 'mars' } })).body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_UNKNOWN_DATACENTER', message: 'no region has Consul datacenter mars', field: 'datacenter' });
    expect((await call(base, 'POST', '/v1/drain', { body: { service: 'api' } })).body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_INVALID', message: 'invalid drain request: instance: is required', field: 'instance' });
    expect((await call(base, 'POST', '/v1/drain', { token: 'tok-read', body: {} })).status).toBe(403);
  });
});
