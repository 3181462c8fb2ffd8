import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import type { Consumer } from '../../src/core/model/index.js';
import { builtinRegistry } from '../../src/plugins/index.js';
import { pluginMetrics } from '../../src/plugins/shared/metrics.js';
import { eventually, useServers, type RedisServer } from '../harness/index.js';
import { ctxFor, route } from './helpers/context.js';
import { echoUpstream } from './helpers/upstream.js';
import { callRoute, DataPlane, gatewayMetric, hostOf, startPluginGateway, type PluginGateway } from './helpers/meridian-gateway.js';
import { testServices } from './helpers/services.js';

/**
 * limit-count in two `meridian gateway` processes (one worker each) that watch one route file
 * and count in one Redis. What only a chain shows (whether a decision is a promise, how many
 * Redis calls a burst of one event-loop turn makes) is checked on a chain in this process.
 */
const servers = await useServers();
let redis: RedisServer;
const holder: { list: Consumer[] } = { list: [] };
const services = testServices(holder);
const registry = builtinRegistry();
const dir = mkdtempSync(join(tmpdir(), 'meridian-limit-count-'));
let upstream: Awaited<ReturnType<typeof echoUpstream>>;
let gwA: PluginGateway | undefined;
let gwB: PluginGateway | undefined;
const gateways = () => [gwA, gwB].filter((g) => g !== undefined);
const plane = new DataPlane(join(dir, 'routes.yaml'), gateways);

beforeAll(async () => {
  redis = await servers.redis();
  upstream = await echoUpstream();
  plane.write();
  const started = Promise.all(['a', 'b'].map((n) => startPluginGateway({ dir, name: `gw-limit-count-${n}`, redisUrl: redis.url })));
  await registry.init({ ...services, redisUrl: redis.url });
  [gwA, gwB] = await started;
}, 60_000);

afterAll(async () => {
  await Promise.all(gateways().map((g) => g.stop()));
  await upstream.close();
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

interface On {
  id: string;
  gw: () => PluginGateway;
}

/** Route `id` with limit-count `cfg` (and `extra` plugins), served by both gateways; calls go through gateway A. */
async function gw(id: string, cfg: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<On> {
  // A generous command timeout unless the test sets one: on a loaded shared machine a 100 ms
  // stall would (by design) switch to local counting and blur the shared-count assertions.
  const limit = { redis: { command_timeout_ms: 10_000 }, ...cfg };
  await plane.route(id, { 'limit-count': limit, ...extra }, upstream.url).apply();
  return { id, gw: () => gwA! };
}
/** The same route through gateway B. */
const viaB = (g: On): On => ({ id: g.id, gw: () => gwB! });

async function hit(g: On, headers: Record<string, string> = {}) {
  const r = await callRoute(g.gw(), g.id, { headers });
  return { status: r.status, headers: r.headers, body: r.text };
}

/** A keep-alive pool to gateway A for route `g`: requests carry its Host. */
function poolFor(g: On, connections: number): { request: () => Promise<number>; close: () => Promise<void> } {
  const pool = new Pool(g.gw().url, { connections });
  return {
    request: async () => {
      const r = await pool.request({ path: '/', method: 'GET', headers: { host: hostOf(g.id) } });
      await r.body.dump();
      return r.statusCode;
    },
    close: () => pool.close(),
  };
}

/** A metric summed over both gateways' /metrics. */
async function gatewaysMetric(name: string, labels: Record<string, string>): Promise<number> {
  return (await Promise.all(gateways().map((g) => gatewayMetric(g, name, labels)))).reduce((a, b) => a + b, 0);
}
const gatewayRedisCalls = () => gatewaysMetric('meridian_plugin_redis_calls_total', { plugin: 'limit-count', result: 'ok' });
const gatewayFallbacks = (routeId: string) => gatewaysMetric('meridian_plugin_limit_fallback_total', { route: routeId });

describe('limit-count', () => {
  it('allows count requests per window, then 429 with Retry-After and RateLimit headers', async () => {
    const g = await gw('lc-basic', { count: 3, time_window: 60 });
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof hit>> | undefined;
    for (let i = 0; i < 5; i++) {
      last = await hit(g);
      statuses.push(last.status);
      if (i === 0) {
        expect(last.headers['ratelimit-limit']).toBe('3');
        expect(last.headers['ratelimit-remaining']).toBe('2');
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(last!.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(last!.headers['ratelimit-remaining']).toBe('0');
    expect(JSON.parse(last!.body)).toEqual({ request_id: expect.any(String), code: 'MERIDIAN_ERR_PLUGIN_RATE_LIMITED', message: 'too many requests' });
  });

  it('counts in Redis: two gateways share one counter', async () => {
    const a = await gw('lc-shared', { count: 4, time_window: 60, key_type: 'route' });
    const b = viaB(a);
    const s = [];
    for (let i = 0; i < 3; i++) s.push((await hit(a)).status, (await hit(b)).status);
    expect(s.filter((x) => x === 200)).toHaveLength(4);
    const direct = new Redis(redis.url);
    const keys = await direct.keys('meridian:lc:{lc-shared:*');
    expect(keys).toHaveLength(1);
    expect(await direct.get(keys[0]!)).toBe('4');
    direct.disconnect();
  });

  it('keys by header, consumer or IP; precedence: the consumer config wins over the route one', async () => {
    const g = await gw('lc-header', { count: 1, time_window: 60, key_type: 'header', header: 'x-tenant' });
    expect((await hit(g, { 'x-tenant': 'a' })).status).toBe(200);
    expect((await hit(g, { 'x-tenant': 'b' })).status).toBe(200);
    expect((await hit(g, { 'x-tenant': 'a' })).status).toBe(429);
    plane.consumers = [{ username: 'vip', plugins: { 'key-auth': { key: 'vip-key-12345678' }, 'limit-count': { count: 5, time_window: 60, key_type: 'consumer', redis: { command_timeout_ms: 2_000 } } } }, { username: 'std', plugins: { 'key-auth': { key: 'std-key-12345678' } } }];
    const c = await gw('lc-consumer', { count: 2, time_window: 60, key_type: 'consumer' }, { 'key-auth': {} });
    const vip = [];
    const std = [];
    for (let i = 0; i < 6; i++) {
      vip.push((await hit(c, { apikey: 'vip-key-12345678' })).status);
      std.push((await hit(c, { apikey: 'std-key-12345678' })).status);
    }
    expect(vip).toEqual([200, 200, 200, 200, 200, 429]);
    expect(std).toEqual([200, 200, 429, 429, 429, 429]);
  });

  it('sliding window weighs the previous window', async () => {
    const g = await gw('lc-slide', { count: 4, time_window: 1, algorithm: 'sliding', key_type: 'route' });
    // Align to the start of a Redis-time second so all four land in one window.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
    for (let i = 0; i < 4; i++) expect((await hit(g)).status).toBe(200);
    expect((await hit(g)).status).toBe(429);
    // 100 ms into the next window, 90% of the previous window still counts: 0.9*4 = 3.6 + 1 > 4.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 100));
    expect((await hit(g)).status).toBe(429);
  });

  it('batched mode never exceeds the limit and leases in batches', async () => {
    const g = await gw('lc-batch', { count: 200, time_window: 60, mode: 'batched', batch_size: 20, key_type: 'route' });
    const before = await gatewayRedisCalls();
    let ok = 0;
    const pool = poolFor(g, 8);
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 40; i++) if ((await pool.request()) === 200) ok++;
    }));
    await pool.close();
    expect(ok).toBe(200);
    const calls = (await gatewayRedisCalls()) - before;
    expect(calls).toBeLessThanOrEqual(12); // 10 leases of 20, plus the one that found the budget spent
  });

  it('strict mode under concurrency: exactly count admitted, Redis calls shared by waiting requests', async () => {
    const g = await gw('lc-conc', { count: 50, time_window: 60, key_type: 'route' });
    await hit(g); // connection warm
    const before = await gatewayRedisCalls();
    const pool = poolFor(g, 32);
    const statuses = await Promise.all(Array.from({ length: 200 }, () => pool.request()));
    await pool.close();
    expect(statuses.filter((x) => x === 200)).toHaveLength(49);
    expect(statuses.filter((x) => x === 429)).toHaveLength(151);
    expect((await gatewayRedisCalls()) - before).toBeLessThan(200);
  });

  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'limit-count': { count: 0, time_window: 1 } } }, 'route l')).toThrow('plugin limit-count at route l (route): count: must be >= 1, got 0');
    expect(() => registry.compile({ route: { 'limit-count': { count: 1 } } }, 'route l')).toThrow('plugin limit-count at route l (route): time_window: is required');
    expect(() => registry.compile({ route: { 'limit-count': { count: 1, time_window: 1, key_type: 'header' } } }, 'route l')).toThrow('plugin limit-count at route l (route): header: is required when key_type is "header"');
    expect(() => registry.compile({ route: { 'limit-count': { count: 1, time_window: 1, mode: 'batched', algorithm: 'sliding' } } }, 'route l')).toThrow('plugin limit-count at route l (route): mode: "batched" works with algorithm "fixed" only');
  });

  it('Redis killed under load: local fallback in the same request, no 5xx; Redis back: shared counting again', async () => {
    const cfg = { count: 1_000_000, time_window: 60, key_type: 'route', redis: { retry_after_ms: 200, command_timeout_ms: 2_000 } };
    const a = await gw('lc-chaos', cfg);
    const b = viaB(a);
    const statuses = new Map<number, number>();
    let stop = false;
    const pools = [poolFor(a, 4), poolFor(b, 4)];
    const load = Promise.all(pools.flatMap((p) => Array.from({ length: 4 }, async () => {
      while (!stop) {
        const status = await p.request();
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    })));
    await new Promise((r) => setTimeout(r, 400));
    await redis.kill();
    await new Promise((r) => setTimeout(r, 800));
    const fallbackDuring = await gatewayFallbacks('lc-chaos');
    await redis.start();
    await new Promise((r) => setTimeout(r, 1500));
    stop = true;
    await load;
    await Promise.all(pools.map((p) => p.close()));
    expect([...statuses.keys()]).toEqual([200]);
    expect(fallbackDuring).toBeGreaterThan(0);
    expect(gateways().some((g) => g.output().includes('plugins: Redis unavailable, using local fallback'))).toBe(true);

    // Back on Redis: a limit of 3 on a new key is shared by both gateways again.
    const c1 = await gw('lc-after', { count: 3, time_window: 60, key_type: 'route', redis: { retry_after_ms: 200, command_timeout_ms: 2_000 } });
    const c2 = viaB(c1);
    const direct = new Redis(redis.url);
    const counted = async () => Number(await direct.get((await direct.keys('meridian:lc:{lc-after:*'))[0] ?? 'none'));
    await eventually(async () => {
      await hit(c1);
      return (await counted()) > 0;
    }, 10_000, 200);
    const spent = await counted();
    const s: number[] = [];
    for (let i = 0; i < 3; i++) s.push((await hit(c1)).status, (await hit(c2)).status);
    expect(s.filter((x) => x === 200).length).toBe(Math.max(0, 3 - spent));
    expect(await counted()).toBe(3);
    direct.disconnect();
  });

  it('decides without a promise when the answer is at hand (local policy, a batched lease); a Redis decision is one', async () => {
    const isPromise = (v: unknown) => v instanceof Promise;
    const run = (id: string, cfg: Record<string, unknown>) => {
      const chain = registry.compile({ route: { 'limit-count': { redis: { command_timeout_ms: 10_000 }, key_type: 'route', ...cfg } } }, `route ${id}`);
      return () => {
        const ctx = ctxFor(route(id));
        return { out: chain.request(ctx), ctx };
      };
    };
    const local = run('lc-sync-local', { count: 2, time_window: 60, policy: 'local' });
    const outs = [local(), local(), local()];
    expect(outs.map((o) => isPromise(o.out))).toEqual([false, false, false]);
    expect(outs.map((o) => (o.out as { stop?: { status: number } }).stop?.status)).toEqual([undefined, undefined, 429]);
    expect(outs[1]!.ctx.responseHeaders).toEqual({ 'RateLimit-Limit': '2', 'RateLimit-Remaining': '0', 'RateLimit-Reset': expect.stringMatching(/^\d+$/) });

    const batched = run('lc-sync-batched', { count: 1000, time_window: 60, mode: 'batched', batch_size: 10 });
    const first = batched();
    expect(isPromise(first.out)).toBe(true); // the first lease comes from Redis
    expect((await first.out).stop).toBeUndefined();
    const next = batched();
    expect(isPromise(next.out)).toBe(false);
    expect(next.ctx.responseHeaders['RateLimit-Remaining']).toBe('998');

    const strict = run('lc-sync-strict', { count: 1000, time_window: 60 });
    const s1 = strict();
    expect(isPromise(s1.out)).toBe(true);
    expect((await s1.out).stop).toBeUndefined();
    expect(s1.ctx.responseHeaders['RateLimit-Remaining']).toBe('999');
  });

  it('strict: keys asking in the same turn share one Redis call, each still counted exactly (fixed and sliding)', async () => {
    const compile = (id: string, algorithm: string) => registry.compile({ route: { 'limit-count': { count: 2, time_window: 60, key_type: 'header', header: 'x-k', algorithm, redis: { command_timeout_ms: 10_000 } } } }, `route ${id}`);
    const chains = { fixed: compile('lc-multi', 'fixed'), sliding: compile('lc-multi-s', 'sliding') };
    // The Redis connection is up before the burst (its first call would otherwise wait for it).
    expect((await chains.fixed.request(ctxFor(route('lc-multi')))).stop).toBeUndefined();
    const calls = await redisCallCount();
    const asks: Array<{ kind: 'fixed' | 'sliding'; key: string; out: Promise<{ stop?: { status: number } | undefined }> }> = [];
    for (const kind of ['fixed', 'sliding'] as const) {
      for (let k = 0; k < 30; k++) {
        for (let i = 0; i < 3; i++) {
          const ctx = ctxFor(route(kind === 'fixed' ? 'lc-multi' : 'lc-multi-s'));
          ctx.req.headers['x-k'] = `t${k}`;
          asks.push({ kind, key: `t${k}`, out: Promise.resolve(chains[kind].request(ctx)) });
        }
      }
    }
    const outs = await Promise.all(asks.map((a) => a.out));
    const admitted = new Map<string, number>();
    outs.forEach((o, i) => {
      const a = asks[i]!;
      if (!o.stop) admitted.set(`${a.kind}:${a.key}`, (admitted.get(`${a.kind}:${a.key}`) ?? 0) + 1);
      else expect(o.stop.status).toBe(429);
    });
    expect(admitted.size).toBe(60);
    expect([...admitted.values()].every((n) => n === 2)).toBe(true);
    // 60 keys, 180 requests: one multi-key call (two at most if the burst straddled a turn).
    expect((await redisCallCount()) - calls).toBeLessThanOrEqual(2);
    const direct = new Redis(redis.url);
    const stored = await direct.keys('meridian:lc:{lc-multi:h:t7}:*');
    expect(stored).toHaveLength(1);
    expect(await direct.get(stored[0]!)).toBe('2');
    direct.disconnect();
  });

  it('Redis frozen (SIGSTOP): commands time out into the fallback, no 5xx', async () => {
    const g = await gw('lc-freeze', { count: 100, time_window: 60, redis: { command_timeout_ms: 50, retry_after_ms: 300 } });
    expect((await hit(g)).status).toBe(200);
    await redis.freeze();
    try {
      const t0 = Date.now();
      const s = [];
      for (let i = 0; i < 10; i++) s.push((await hit(g)).status);
      expect(s.every((x) => x === 200)).toBe(true);
      expect(Date.now() - t0).toBeLessThan(1_500);
    } finally {
      await redis.thaw();
    }
  });

  it('a call that fails answers every request waiting on it from the local count, one error per call (strict and batched)', async () => {
    for (const mode of ['strict', 'batched'] as const) {
      const id = `lc-shared-fail-${mode}`;
      const chain = registry.compile({ route: { 'limit-count': { count: 4, time_window: 60, key_type: 'route', mode, batch_size: 1, redis: { command_timeout_ms: mode === 'strict' ? 60 : 61, retry_after_ms: 5_000 } } } }, `route ${id}`); // a connection each: the first leaves its own marked down
      expect((await chain.request(ctxFor(route(id)))).stop).toBeUndefined(); // connected, counted in Redis
      const errors = await metric('meridian_plugin_redis_calls_total', { plugin: 'limit-count', result: 'error' });
      const fallbacks = await fallbackCount(id);
      await redis.freeze();
      try {
        // Six requests in one turn wait on one call; it times out and each is decided locally
        // (a fresh local window of 4: four admitted, two refused), none left hanging.
        const outs = await Promise.all(Array.from({ length: 6 }, () => Promise.resolve(chain.request(ctxFor(route(id))))));
        expect(outs.map((o) => o.stop?.status ?? 200)).toEqual([200, 200, 200, 200, 429, 429]);
        expect((await fallbackCount(id)) - fallbacks).toBe(6);
        expect((await metric('meridian_plugin_redis_calls_total', { plugin: 'limit-count', result: 'error' })) - errors).toBe(1);
      } finally {
        await redis.thaw();
      }
    }
  });
});

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const m = (await pluginMetrics.getMetricsAsJSON()).find((x) => x.name === name);
  let total = 0;
  for (const v of m?.values ?? []) if (Object.entries(labels).every(([k, val]) => v.labels[k] === val)) total += v.value;
  return total;
}
const fallbackCount = (route: string) => metric('meridian_plugin_limit_fallback_total', { route });
const redisCallCount = () => metric('meridian_plugin_redis_calls_total', { plugin: 'limit-count', result: 'ok' });
