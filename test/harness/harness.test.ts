import { Resolver } from 'node:dns/promises';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { EtcdStore } from '../../src/core/etcd-store.js';
import { eventually, useServers } from './index.js';
import dns2 from 'dns2';

const servers = await useServers();

describe('real etcd', () => {
  it('a watch sees a put, and a lease expires with its keys', async () => {
    const etcd = await servers.etcd();
    const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/t' });
    try {
      const rev = await store.revision();
      const seen: string[] = [];
      const watch = await store.watch('routes/', rev + 1, (events) => {
        for (const e of events) seen.push(`${e.type}:${e.key}`);
      });
      await store.put('routes/r1', { id: 'r1' });
      await eventually(() => seen.includes('put:routes/r1'));
      await watch.stop();

      const lease = await store.lease(1);
      await lease.put('nodes/c1/n1', { address: '127.0.0.1' });
      expect((await store.get('nodes/c1/n1'))?.value).toEqual({ address: '127.0.0.1' });
      lease.release(); // stop keep-alives: etcd must expire it on its own
      await eventually(async () => (await store.get('nodes/c1/n1')) === undefined, 10_000);
    } finally {
      await store.stop();
    }
  });

  it('compare-and-set rejects a stale revision', async () => {
    const etcd = await servers.etcd();
    const store = new EtcdStore({ endpoints: [etcd.endpoint] });
    try {
      const r1 = await store.put('routes/a', { v: 1 }, { expectRevision: 0 });
      await expect(store.put('routes/a', { v: 2 }, { expectRevision: 0 })).rejects.toMatchObject({ code: 'MERIDIAN_ERR_STORE_CONFLICT' });
      await store.put('routes/a', { v: 2 }, { expectRevision: r1 });
      expect((await store.get('routes/a'))?.value).toEqual({ v: 2 });
    } finally {
      await store.stop();
    }
  });
});

describe('real Redis', () => {
  it('answers, and comes back after a kill and start', async () => {
    const redis = await servers.redis();
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();
      expect(await client.incr('k')).toBe(1);
      await redis.kill();
      await expect(client.incr('k')).rejects.toThrow();
      await redis.start();
      await eventually(async () => (await client.ping()) === 'PONG', 10_000);
    } finally {
      client.disconnect();
    }
  });
});

describe('real Consul, two WAN-joined datacenters', () => {
  it('answers a cross-datacenter SRV query through Consul DNS', async () => {
    const [east, west] = await servers.consulFederation(['east', 'west']);
    if (!east || !west) throw new Error('federation did not start');
    await west.register({ id: 'api-1', name: 'api', address: '127.0.0.9', port: 9001, check: { ttl: '30s' } });
    await west.client.setTtlCheck('api-1', 'pass');

    // Query east's DNS for the service in west: the answer crosses the WAN federation.
    const client = new dns2({ nameServers: [east.dns.host], port: east.dns.port, recursive: false });
    const answer = await eventually(async () => {
      const res = await client.resolve('api.service.west.consul', 'SRV');
      return res.answers.length > 0 ? res : undefined;
    }, 15_000);
    const srv = answer.answers[0] as { port?: number };
    expect(srv.port).toBe(9001);
    const a = answer.additionals.find((r) => (r as { address?: string }).address === '127.0.0.9');
    expect(a).toBeDefined();

    // only_passing: a failing instance leaves DNS.
    await west.client.setTtlCheck('api-1', 'fail');
    const resolver = new Resolver();
    resolver.setServers([`${east.dns.host}:${east.dns.port}`]);
    await eventually(async () => {
      const res = await client.resolve('api.service.west.consul', 'SRV');
      return res.answers.length === 0;
    }, 15_000);
  });
});
