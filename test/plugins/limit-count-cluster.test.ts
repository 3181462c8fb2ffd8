import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { builtinRegistry } from '../../src/plugins/index.js';
import { pluginMetrics } from '../../src/plugins/shared/metrics.js';
import { useServers } from '../harness/index.js';
import { ctxFor, route } from './helpers/context.js';
import { testServices } from './helpers/services.js';

const servers = await useServers();
const registry = builtinRegistry();
let nodes: string[] = [];

beforeAll(async () => {
  if (servers.redisCluster) nodes = await servers.redisCluster(3);
  await registry.init(testServices({ list: [] }));
}, 60_000);

afterAll(async () => {
  await registry.close();
});

async function fallbacks(routeId: string): Promise<number> {
  const m = (await pluginMetrics.getMetricsAsJSON()).find((x) => x.name === 'meridian_plugin_limit_fallback_total');
  return (m?.values ?? []).filter((v) => v.labels.route === routeId).reduce((s, v) => s + v.value, 0);
}

describe('limit-count on a Redis Cluster', () => {
  it.skipIf(!servers.redisCluster)('strict: keys of different slots asking in the same turn are each counted exactly in the cluster', async () => {
    const chain = registry.compile({ route: { 'limit-count': { count: 2, time_window: 60, key_type: 'header', header: 'x-k', redis: { cluster: nodes, command_timeout_ms: 10_000 } } } }, 'route lc-cluster');
    // The cluster client is connected before the burst.
    expect((await chain.request(ctxFor(route('lc-cluster')))).stop).toBeUndefined();
    const asks: Array<{ key: string; out: Promise<{ stop?: { status: number } | undefined }> }> = [];
    for (let k = 0; k < 20; k++) {
      for (let i = 0; i < 3; i++) {
        const ctx = ctxFor(route('lc-cluster'));
        ctx.req.headers['x-k'] = `c${k}`;
        asks.push({ key: `c${k}`, out: Promise.resolve(chain.request(ctx)) });
      }
    }
    const outs = await Promise.all(asks.map((a) => a.out));
    const admitted = new Map<string, number>();
    outs.forEach((o, i) => {
      if (!o.stop) admitted.set(asks[i]!.key, (admitted.get(asks[i]!.key) ?? 0) + 1);
    });
    expect([...admitted.values()]).toEqual(Array<number>(20).fill(2));
    expect(await fallbacks('lc-cluster')).toBe(0);
    // Counted in the cluster itself (a fallback would have counted in the worker only).
    const direct = new Cluster(nodes.map((n) => ({ host: n.split(':')[0], port: Number(n.split(':')[1]) })));
    try {
      const slots = new Set<number>();
      for (let k = 0; k < 20; k++) {
        const base = `meridian:lc:{lc-cluster:h:c${k}}`;
        const idx = Math.floor(Date.now() / 60_000);
        const value = (await direct.get(`${base}:${idx}`)) ?? (await direct.get(`${base}:${idx - 1}`));
        expect(value).toBe('2');
        slots.add(Number(await direct.call('CLUSTER', 'KEYSLOT', base)));
      }
      expect(slots.size).toBeGreaterThan(1);
    } finally {
      direct.disconnect();
    }
  }, 60_000);
});
