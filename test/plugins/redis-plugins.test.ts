import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { builtinRegistry } from '../../src/plugins/index.js';
import { useServers, eventually, type RedisServer } from '../harness/index.js';
import { echoUpstream } from './helpers/upstream.js';
import { callRoute, DataPlane, startPluginGateway, type PluginGateway } from './helpers/meridian-gateway.js';

/**
 * The Redis-backed plugins in two `meridian gateway` processes (one worker each) that watch one
 * route file and share one Redis; config checks on the registry.
 */
const servers = await useServers();
let redis: RedisServer;
const registry = builtinRegistry();
const dir = mkdtempSync(join(tmpdir(), 'meridian-redis-plugins-'));
let upstream: Awaited<ReturnType<typeof echoUpstream>>;
let gwA: PluginGateway | undefined;
let gwB: PluginGateway | undefined;
const plane = new DataPlane(join(dir, 'routes.yaml'), () => [gwA, gwB].filter((g) => g !== undefined));

beforeAll(async () => {
  redis = await servers.redis();
  upstream = await echoUpstream();
  plane.write();
  [gwA, gwB] = await Promise.all(['a', 'b'].map((n) => startPluginGateway({ dir, name: `gw-redis-plugins-${n}`, redisUrl: redis.url })));
}, 60_000);
afterAll(async () => {
  await Promise.all([gwA?.stop(), gwB?.stop()]);
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Route `id` with `plugins`, served by both gateways once this resolves; `on` picks the gateway a call goes through. */
async function gw(id: string, plugins: Record<string, unknown>, upstreamUrl = upstream.url, on: 'a' | 'b' = 'a'): Promise<{ id: string; on: 'a' | 'b' }> {
  await plane.route(id, plugins, upstreamUrl).apply();
  return { id, on };
}
async function call(g: { id: string; on: 'a' | 'b' }, path = '/', headers: Record<string, string> = {}, method = 'GET') {
  return callRoute((g.on === 'a' ? gwA : gwB)!, g.id, { path, headers, method });
}

describe('anti-replay', () => {
  it('accepts a fresh nonce once (across gateways), refuses replays and stale timestamps', async () => {
    const a = await gw('ar', { 'anti-replay': { window_s: 60 } });
    const b = { ...a, on: 'b' as const }; // the same route through the other gateway
    const nonce = randomUUID();
    const h = { 'x-nonce': nonce, 'x-timestamp': String(Math.floor(Date.now() / 1000)) };
    expect((await call(a, '/', h)).status).toBe(200);
    const again = await call(b, '/', h);
    expect(again.status).toBe(401);
    expect(JSON.parse(again.text)).toEqual({ request_id: expect.any(String), code: 'MERIDIAN_ERR_PLUGIN_REPLAYED', message: 'request replayed or outside its time window' });
    expect((await call(a, '/', { 'x-nonce': randomUUID(), 'x-timestamp': String(Math.floor(Date.now() / 1000) - 120) })).status).toBe(401);
    expect((await call(a, '/', { 'x-timestamp': String(Date.now()) })).status).toBe(401);
    expect((await call(a, '/', { 'x-nonce': randomUUID(), 'x-timestamp': String(Date.now()) })).status).toBe(200); // ms accepted
  });
  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'anti-replay': { on_redis_error: 'ignore' } } }, 'route a')).toThrow('plugin anti-replay at route a (route): on_redis_error: must be one of "local", "deny", "allow", got string "ignore"');
  });
});

describe('proxy-cache', () => {
  it('MISS then HIT from the local LRU and from Redis (another worker), HEAD from the GET entry', async () => {
    const cfg = { 'proxy-cache': { ttl_s: 30, statuses: [200], key: ['method', 'uri'] } };
    const a = await gw('pc', cfg);
    const path = `/item/${randomUUID()}`;
    const first = await call(a, path);
    expect(first.headers['x-cache-status']).toBe('MISS');
    const hits = upstream.hits();
    const second = await call(a, path);
    expect(second.headers['x-cache-status']).toBe('HIT');
    expect(second.text).toBe(first.text);
    expect(second.headers['content-type']).toBe('application/json');
    expect(upstream.hits()).toBe(hits);
    // The other gateway has its own local level: it must find the entry in Redis.
    const b = { ...a, on: 'b' as const };
    expect((await call(b, path)).headers['x-cache-status']).toBe('HIT');
    const head = await call(a, path, {}, 'HEAD');
    expect([head.status, head.headers['x-cache-status'], head.text]).toEqual([200, 'HIT', '']);
    expect(upstream.hits()).toBe(hits);
    // POST is never cached; a status outside the filter is not stored.
    expect((await call(a, path, {}, 'POST')).headers['x-cache-status']).toBeUndefined();
    upstream.setStatus(500);
    const p2 = `/item/${randomUUID()}`;
    await call(a, p2);
    expect((await call(a, p2)).headers['x-cache-status']).toBe('MISS');
    upstream.setStatus(200);
  });

  it('serves stale when the upstream fails after the TTL, and the key has its configured parts', async () => {
    let down = false;
    const flaky = createServer((req, res) => {
      if (down) {
        res.writeHead(503).end('down');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`v:${(req.headers as IncomingHttpHeaders)['x-tenant'] ?? ''}`);
    });
    await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`;
    const g = await gw('pc-stale', { 'proxy-cache': { ttl_s: 1, stale_s: 60, key: ['method', 'path', 'header:x-tenant'], policy: 'local' } }, url);
    expect((await call(g, '/s?x=1', { 'x-tenant': 't1' })).text).toBe('v:t1');
    const t2 = await call(g, '/s?x=2', { 'x-tenant': 't2' });
    expect([t2.text, t2.headers['x-cache-status']]).toEqual(['v:t2', 'MISS']);
    expect((await call(g, '/s?x=3', { 'x-tenant': 't1' })).headers['x-cache-status']).toBe('HIT'); // query not in the key
    await new Promise((r) => setTimeout(r, 1_100));
    down = true;
    const stale = await call(g, '/s', { 'x-tenant': 't1' });
    expect([stale.status, stale.text, stale.headers['x-cache-status']]).toEqual([200, 'v:t1', 'STALE']);
    expect((await call(g, '/s', { 'x-tenant': 't3' })).status).toBe(503);
    flaky.closeAllConnections();
    flaky.close();
  });

  it('Redis down: a miss, never an error', async () => {
    const g = await gw('pc-nored', { 'proxy-cache': { local_entries: 0, redis: { command_timeout_ms: 50 } } });
    await redis.freeze();
    try {
      expect((await call(g, `/x/${randomUUID()}`)).status).toBe(200);
    } finally {
      await redis.thaw();
    }
  });

  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'proxy-cache': { key: ['body'] } } }, 'route c')).toThrow(/^plugin proxy-cache at route c \(route\): key\[0\]: /);
    expect(() => registry.compile({ route: { 'proxy-cache': { policy: 'local', local_entries: 0 } } }, 'route c')).toThrow('plugin proxy-cache at route c (route): local_entries: must be > 0 when policy is "local"');
  });
});

describe('proxy-mirror', () => {
  it('copies requests to the mirror; a dead or slow mirror never touches the client', async () => {
    const seen: string[] = [];
    const mirror = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${String(req.headers['x-meridian-mirror'])}`);
      setTimeout(() => res.end('mirror'), 300);
    });
    await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', r));
    const murl = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}`;
    const g = await gw('pm', { 'proxy-mirror': { host: murl } });
    const t0 = Date.now();
    const r = await call(g, '/copy?q=1');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).url).toBe('/copy?q=1');
    expect(Date.now() - t0).toBeLessThan(250);
    await eventually(() => seen.includes('GET /copy?q=1 1'), 2_000, 20);
    const dead = await gw('pm-dead', { 'proxy-mirror': { host: 'http://127.0.0.1:9', timeout_ms: 100 } });
    for (let i = 0; i < 5; i++) expect((await call(dead, '/x')).status).toBe(200);
    const none = await gw('pm-zero', { 'proxy-mirror': { host: murl, sample_ratio: 0 } });
    const before = seen.length;
    for (let i = 0; i < 5; i++) await call(none, '/never');
    await new Promise((res) => setTimeout(res, 100));
    expect(seen.length).toBe(before);
    mirror.closeAllConnections();
    mirror.close();
  });

  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'proxy-mirror': { host: 'ftp://x' } } }, 'route m')).toThrow('plugin proxy-mirror at route m (route): host: "ftp://x" does not match ^https?://[^/]+$');
  });
});
