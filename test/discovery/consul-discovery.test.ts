import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '../../src/core/metric-names.js';
import type { DiscoveryManager } from '../../src/discovery/index.js';
import { eventually, useServers, type ConsulServer } from '../harness/index.js';
import { FAST, consul, counter, keys, manager } from './helpers.js';

// Real Consul: two WAN-joined datacenters (east is "local" to the gateway, west its failover).
const servers = await useServers();
let east: ConsulServer;
let west: ConsulServer;
const managers: DiscoveryManager[] = [];

function fast(extra: Parameters<typeof manager>[0] = {}) {
  const made = manager({ ...FAST, servers: [east.dns], datacenter: 'east', ...extra });
  managers.push(made.m);
  return made;
}

async function up(dc: ConsulServer, id: string, service: string, address: string, port: number, tags: string[] = []): Promise<void> {
  await dc.register({ id, name: service, address, port, tags, check: { ttl: '10m' } });
  await dc.client.setTtlCheck(id, 'pass');
}

beforeAll(async () => {
  const made = await servers.consulFederation(['east', 'west']);
  if (!made[0] || !made[1]) throw new Error('federation did not start');
  [east, west] = made as [ConsulServer, ConsulServer];
});

afterAll(async () => {
  await Promise.all(managers.map((m) => m.stop()));
});

describe('discovery against real Consul DNS', () => {
  it('instances appear and leave with their health checks', async () => {
    const { m } = fast();
    await up(east, 'web-1', 'web', '127.0.0.21', 9001);
    await up(east, 'web-2', 'web', '127.0.0.22', 9002);
    const source = m.sourceFor(consul('web'));
    await source.start();
    expect(keys(source)).toEqual(['127.0.0.21:9001', '127.0.0.22:9002']);

    await east.client.setTtlCheck('web-2', 'fail');
    await eventually(() => keys(source).join() === '127.0.0.21:9001', 5_000, 50);
    await east.client.setTtlCheck('web-2', 'pass');
    await up(east, 'web-3', 'web', '127.0.0.23', 9003);
    await eventually(() => keys(source).length === 3, 5_000, 50);
    await east.deregister('web-1');
    await eventually(() => keys(source).join() === '127.0.0.22:9002,127.0.0.23:9003', 5_000, 50);
    await source.stop();
  });

  it('keeps node objects and the list identical across refreshes (ejection state keyed by host:port survives)', async () => {
    const { m } = fast();
    await up(east, 'id-1', 'ident', '127.0.0.31', 9001);
    await up(east, 'id-2', 'ident', '127.0.0.32', 9002);
    const source = m.sourceFor(consul('ident'));
    await source.start();
    const before = source.current();
    let calls = 0;
    source.subscribe(() => calls++);
    // Several refresh cycles (TTL floor 200 ms) in which Consul shuffles its answer.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(source.current()).toBe(before);
    expect(calls).toBe(0);

    await up(east, 'id-3', 'ident', '127.0.0.33', 9003);
    await eventually(() => source.current().length === 3, 5_000, 50);
    expect(calls).toBe(1);
    // The unchanged nodes are the very same objects: a WeakMap or a host:port map keeps working.
    const after = source.current();
    expect(after[0]).toBe(before[0]);
    expect(after[1]).toBe(before[1]);
    await source.stop();
  });

  it('filters by tag', async () => {
    const { m } = fast();
    await up(east, 'tag-1', 'tagged', '127.0.0.41', 9001, ['v1']);
    await up(east, 'tag-2', 'tagged', '127.0.0.42', 9002, ['v2', 'canary']);
    const v2 = m.sourceFor(consul('tagged', { tags: ['v2'] }));
    const all = m.sourceFor(consul('tagged'));
    await Promise.all([v2.start(), all.start()]);
    expect(keys(v2)).toEqual(['127.0.0.42:9002']);
    expect(keys(all)).toEqual(['127.0.0.41:9001', '127.0.0.42:9002']);
    expect(m.snapshot().map((e) => e.name).sort()).toContain('v2.tagged.service.consul');
    await Promise.all([v2.stop(), all.stop()]);
  });

  it('gets every instance of a service larger than the UDP answer limit (TC -> TCP)', async () => {
    const { m } = fast();
    const expected: string[] = [];
    for (let i = 1; i <= 7; i++) {
      await up(east, `big-${i}`, 'big', `127.0.1.${i}`, 9000 + i);
      expected.push(`127.0.1.${i}:${9000 + i}`);
    }
    const source = m.sourceFor(consul('big'));
    await source.start();
    expect(keys(source)).toEqual(expected.sort());
    await source.stop();
  });

  it('caches "no such service" briefly and sees it once it appears', async () => {
    const { m, registry } = fast();
    const source = m.sourceFor(consul('later'));
    await source.start();
    expect(source.current()).toEqual([]);
    expect(m.snapshot().find((e) => e.service === 'later')?.status).toBe('negative');
    expect(await counter(registry, METRICS.discoveryLookups, { service: 'later', result: 'negative' })).toBe(1);
    await up(east, 'later-1', 'later', '127.0.0.51', 9001);
    await eventually(() => keys(source).join() === '127.0.0.51:9001', 5_000, 50);
    source.current();
    expect(await counter(registry, METRICS.discoveryLookups, { service: 'later', result: 'hit' })).toBeGreaterThan(0);
    await source.stop();
  });

  it('fails over to the next datacenter when every local instance is critical, and comes back', async () => {
    const { m, registry } = fast();
    await up(east, 'pay-e1', 'pay', '127.0.0.61', 9001);
    await up(west, 'pay-w1', 'pay', '127.0.0.62', 9002);
    const source = m.sourceFor(consul('pay', { failover: ['east', 'west'] }));
    await source.start();
    expect(source.datacenter).toBe('east');
    expect(keys(source)).toEqual(['127.0.0.61:9001']);
    // Healthy local datacenter: the failover datacenter is not even asked.
    expect(m.snapshot().map((e) => e.name)).not.toContain('pay.service.west.consul');

    await east.client.setTtlCheck('pay-e1', 'fail');
    await eventually(() => source.datacenter === 'west' && keys(source).join() === '127.0.0.62:9002', 5_000, 50);
    expect(await counter(registry, METRICS.discoveryFailovers, { service: 'pay', from: 'east', to: 'west' })).toBe(1);

    await east.client.setTtlCheck('pay-e1', 'pass');
    await eventually(() => source.datacenter === 'east' && keys(source).join() === '127.0.0.61:9001', 5_000, 50);
    expect(await counter(registry, METRICS.discoveryFailovers, { service: 'pay', from: 'west', to: 'east' })).toBe(1);
    await source.stop();
  });

  it('resolves through a prepared query with Failover', async () => {
    const { m } = fast();
    await up(west, 'rep-w1', 'report', '127.0.0.71', 9001);
    await east.client.createFailoverQuery('report-q', 'report', { datacenters: ['west'] });
    const source = m.sourceFor(consul('report', { prepared_query: 'report-q' }));
    await source.start();
    expect(keys(source)).toEqual(['127.0.0.71:9001']);
    await source.stop();
  });

  it('purge removes a drained instance at once in every worker, before Consul TTLs would', async () => {
    // Two managers stand for two gateway workers; the long TTL floor means no refresh would
    // drop the instance for 30 s: only the purge does.
    const workers = [fast({ ttl_floor_ms: 30_000, ttl_ceiling_ms: 30_000 }), fast({ ttl_floor_ms: 30_000, ttl_ceiling_ms: 30_000 })];
    await up(east, 'drain-1', 'drain', '127.0.0.81', 9001);
    await up(east, 'drain-2', 'drain', '127.0.0.82', 9002);
    const sources = workers.map(({ m }) => m.sourceFor(consul('drain')));
    await Promise.all(sources.map((s) => s.start()));
    for (const s of sources) expect(keys(s)).toEqual(['127.0.0.81:9001', '127.0.0.82:9002']);

    await east.deregister('drain-1');
    await new Promise((r) => setTimeout(r, 300));
    for (const s of sources) expect(keys(s)).toContain('127.0.0.81:9001'); // cached, as designed

    const results = await Promise.all(workers.map(({ m }) => m.purge({ service: 'drain', instance: '127.0.0.81:9001' })));
    for (const s of sources) expect(keys(s)).toEqual(['127.0.0.82:9002']);
    for (const r of results) {
      expect(r.purged).toEqual([{ name: 'drain.service.consul', service: 'drain', datacenter: 'east' }]);
      expect(r.instanceRemovedFrom).toBe(1);
      expect(r.failed).toEqual([]);
      expect(r.durationMs).toBeLessThan(100);
    }
    // A purge of another datacenter or service leaves the entry alone.
    const other = workers[0] as (typeof workers)[number];
    expect((await other.m.purge({ datacenter: 'west' })).purged).toEqual([]);
    expect((await other.m.purge({ service: 'nothing' })).purged).toEqual([]);

    // A whole-service purge picks up a new instance at once too.
    await up(east, 'drain-3', 'drain', '127.0.0.83', 9003);
    await other.m.purge({ service: 'drain' });
    expect(keys(sources[0] as (typeof sources)[number])).toEqual(['127.0.0.82:9002', '127.0.0.83:9003']);
    expect(await counter(other.registry, METRICS.discoveryPurges, { result: 'ok' })).toBe(4);

    // Purge latency against real Consul, 30 service purges in each of the two workers at once.
    const durations: number[] = [];
    for (let i = 0; i < 30; i++) {
      const rs = await Promise.all(workers.map(({ m }) => m.purge({ service: 'drain' })));
      durations.push(...rs.map((r) => r.durationMs));
    }
    durations.sort((a, b) => a - b);
    const p99 = durations[Math.ceil(durations.length * 0.99) - 1] ?? Infinity;
    console.log(`[discovery] purge p50 ${durations[durations.length >> 1]?.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (n=${durations.length})`);
    expect(p99).toBeLessThan(100);
    await Promise.all(sources.map((s) => s.stop()));
  });

  it('a purge that removes the last local instance resolves only once the source serves the failover datacenter', async () => {
    const { m } = fast({ ttl_floor_ms: 30_000, ttl_ceiling_ms: 30_000 });
    await up(east, 'last-e1', 'last', '127.0.0.65', 9001);
    await up(west, 'last-w1', 'last', '127.0.0.66', 9002);
    const source = m.sourceFor(consul('last', { failover: ['west'] }));
    await source.start();
    expect(keys(source)).toEqual(['127.0.0.65:9001']);
    await east.deregister('last-e1');
    const result = await m.purge({ instance: '127.0.0.65:9001' });
    expect(result.purged.map((p) => p.name)).toEqual(['last.service.consul']);
    expect(source.datacenter).toBe('west');
    expect(keys(source)).toEqual(['127.0.0.66:9002']);
    await source.stop();
  });

  // Last: it freezes, then kills the east Consul.
  it('serves stale data while Consul is down (bounded) and fresh data when it is back', async () => {
    const { m, registry } = fast({ max_stale_ms: 60_000 });
    const short = fast({ max_stale_ms: 1_000 });
    // No health check: the instance is passing again as soon as the agent is back.
    await east.register({ id: 'st-1', name: 'steady', address: '127.0.0.91', port: 9001 });
    const source = m.sourceFor(consul('steady'));
    const bounded = short.m.sourceFor(consul('steady'));
    await Promise.all([source.start(), bounded.start()]);
    expect(keys(source)).toEqual(['127.0.0.91:9001']);

    // Frozen (SIGSTOP): sockets open, no answer; every query times out, cached data is served.
    await east.freeze();
    await eventually(() => /did not answer/.test(m.snapshot().find((e) => e.service === 'steady')?.error ?? ''), 3_000, 50);
    expect(keys(source)).toEqual(['127.0.0.91:9001']);
    await east.thaw();
    await eventually(() => m.snapshot().find((e) => e.service === 'steady')?.error === undefined, 3_000, 50);

    await east.kill();
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 600));
    // Past the TTL, Consul silent: the cached instance is still served, without waiting.
    const t0 = performance.now();
    expect(keys(source)).toEqual(['127.0.0.91:9001']);
    expect(performance.now() - t0).toBeLessThan(5);
    expect(await counter(registry, METRICS.discoveryLookups, { service: 'steady', result: 'stale' })).toBeGreaterThan(0);
    await eventually(() => /did not answer|unreachable/.test(m.snapshot().find((e) => e.service === 'steady')?.error ?? ''), 3_000, 50);
    // The bounded one gives up after max_stale_ms (1 s past the TTL).
    await eventually(() => bounded.current().length === 0, 5_000, 50);
    expect(Date.now() - downAt).toBeGreaterThanOrEqual(1_000);
    expect(keys(source)).toEqual(['127.0.0.91:9001']);

    await east.start();
    await east.register({ id: 'st-2', name: 'steady', address: '127.0.0.92', port: 9002 });
    await eventually(() => keys(source).join() === '127.0.0.91:9001,127.0.0.92:9002', 15_000, 100);
    await eventually(() => keys(bounded).join() === '127.0.0.91:9001,127.0.0.92:9002', 5_000, 100);
    await Promise.all([source.stop(), bounded.stop()]);
  });
});
