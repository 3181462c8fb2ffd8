import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, useServers, type ConsulServer } from '../harness/index.js';
import { send, startGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';

describe('upstreams from Consul discovery (src/discovery wired in)', () => {
  let consul: ConsulServer;
  let a: Upstream;
  let b: Upstream;
  let gw: TestGateway;

  beforeAll(async () => {
    const servers = await useServers();
    consul = await servers.consul('dc1');
    a = await startUpstream();
    b = await startUpstream();
    await consul.register({ id: 'pay-a', name: 'payments', address: '127.0.0.1', port: a.port });
    await consul.register({ id: 'pay-b', name: 'payments', address: '127.0.0.1', port: b.port });
    gw = await startGateway(
      { routes: [{ id: 'pay', paths: ['/pay/*'], upstream_id: 'payments' }], upstreams: [{ id: 'payments', discovery: { type: 'consul', service: 'payments' } }] },
      { discovery: { servers: [consul.dns], datacenter: 'dc1' } },
      undefined,
      true,
    );
  });
  afterAll(async () => {
    await gw.stop();
    await a.close();
    await b.close();
  });

  it('takes the nodes of a discovered upstream from Consul DNS', async () => {
    const ports = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const r = await send(`${gw.url}/pay/x`);
      expect(r.status).toBe(200);
      ports.add(r.json<{ port: number }>().port);
    }
    expect(ports).toEqual(new Set([a.port, b.port]));
  });

  it('after a deregistration, a purge means no request reaches the instance', async () => {
    await consul.deregister('pay-a');
    await gw.worker.purge({ service: 'payments' });
    const before = a.hits;
    for (let i = 0; i < 6; i++) expect((await send(`${gw.url}/pay/x`)).json<{ port: number }>().port).toBe(b.port);
    expect(a.hits).toBe(before);
    await eventually(() => (gw.worker.status().upstreams.payments ?? []).length === 1, 5_000);
  });
});
