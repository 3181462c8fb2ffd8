import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { builtinRegistry } from '../../src/plugins/index.js';
import { ctxFor, route } from './helpers/context.js';
import { echoUpstream } from './helpers/upstream.js';
import { callRoute, DataPlane, gatewayMetric, startPluginGateway, type PluginGateway } from './helpers/meridian-gateway.js';
import { testServices } from './helpers/services.js';

/** Edge plugins in `meridian gateway` (one worker, file config); config checks on the registry. */
const registry = builtinRegistry();
const dir = mkdtempSync(join(tmpdir(), 'meridian-edge-'));
let upstream: Awaited<ReturnType<typeof echoUpstream>>;
let gateway: PluginGateway | undefined;
const plane = new DataPlane(join(dir, 'routes.yaml'), () => (gateway ? [gateway] : []));
plane.consumers = [{ username: 'alice', plugins: { 'key-auth': { key: 'alice-key-123456' } } }];

beforeAll(async () => {
  await registry.init(testServices({ list: [] }));
  upstream = await echoUpstream();
  plane.write();
  gateway = await startPluginGateway({ dir, name: 'gw-edge', ipv6: true });
}, 60_000);
afterAll(async () => {
  await gateway?.stop();
  await upstream.close();
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Route `id` (upstream `up-<id>`) with `plugins`, served by the gateway once this resolves. */
async function gw(id: string, plugins: Record<string, unknown>): Promise<string> {
  await plane.route(id, plugins, upstream.url).apply();
  return id;
}

async function call(id: string, path = '/', headers: Record<string, string> = {}, method = 'GET', body?: string | AsyncIterable<Buffer>, client: { dispatcher?: Agent; ipv6?: boolean } = {}) {
  const r = await callRoute(gateway!, id, { path, headers, method, body, ...client });
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(r.text) as Record<string, unknown>;
  } catch {
    json = { text: r.text };
  }
  return { ...r, json };
}
const up = (r: { json: Record<string, unknown> }) => r.json.headers as Record<string, string>;

describe('ip-restriction', () => {
  it('allow and deny lists, IPv4 and IPv6, deny wins, IPv4-mapped addresses (the address table)', async () => {
    const chain = registry.compile({ route: { 'ip-restriction': { allow: ['10.0.0.0/8', '2001:db8::/32', '127.0.0.1'], deny: ['10.9.0.0/16', '2001:db8:bad::/48'] } } }, 'route ipr');
    const s = async (ip: string) => {
      const ctx = { ...ctxFor(route('ipr')), clientIp: ip };
      return (await chain.request(ctx)).stop?.status ?? 200;
    };
    expect(await s('10.1.2.3')).toBe(200);
    expect(await s('::ffff:10.1.2.3')).toBe(200);
    expect(await s('2001:db8:1::5')).toBe(200);
    expect(await s('127.0.0.1')).toBe(200);
    expect(await s('10.9.1.1')).toBe(403);
    expect(await s('2001:db8:bad::1')).toBe(403);
    expect(await s('192.168.1.1')).toBe(403);
    expect(await s('2001:db9::1')).toBe(403);
  });

  it('in the gateway: the client socket address decides, IPv4 and IPv6, deny wins, coded 403', async () => {
    // One loopback client address each (127.0.0.0/8 is all loopback on Linux).
    const from = (ip: string) => new Agent({ localAddress: ip });
    const clients = { allowed: from('127.10.2.3'), denied: from('127.10.9.1'), outside: from('127.20.1.1') };
    try {
      const ipr = await gw('ipr', { 'ip-restriction': { allow: ['127.10.0.0/16', '127.0.0.1', '::1'], deny: ['127.10.9.0/24'] } });
      const s = async (client: { dispatcher?: Agent; ipv6?: boolean }) => (await call(ipr, '/', {}, 'GET', undefined, client)).status;
      expect(await s({ dispatcher: clients.allowed })).toBe(200);
      expect(await s({})).toBe(200); // 127.0.0.1
      expect(await s({ ipv6: true })).toBe(200); // ::1
      expect(await s({ dispatcher: clients.denied })).toBe(403);
      expect(await s({ dispatcher: clients.outside })).toBe(403);
      const r = await call(ipr, '/', {}, 'GET', undefined, { dispatcher: clients.outside });
      expect(r.json).toEqual({ request_id: expect.any(String), code: 'MERIDIAN_ERR_PLUGIN_FORBIDDEN', message: 'forbidden' });
      const ipr6 = await gw('ipr6', { 'ip-restriction': { allow: ['::1', '127.0.0.1'], deny: ['::1/128'] } });
      expect((await call(ipr6, '/', {}, 'GET', undefined, { ipv6: true })).status).toBe(403);
      expect((await call(ipr6, '/')).status).toBe(200);
    } finally {
      await Promise.all(Object.values(clients).map((c) => c.close()));
    }
  });

  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'ip-restriction': { deny: ['10.0.0.0/33'] } } }, 'route i')).toThrow('plugin ip-restriction at route i (route): deny[0]: "10.0.0.0/33" is not an IPv4/IPv6 address or CIDR');
    expect(() => registry.compile({ route: { 'ip-restriction': { allow: ['1.2.3.4', 'fe80::/129'] } } }, 'route i')).toThrow('plugin ip-restriction at route i (route): allow[1]: "fe80::/129" is not an IPv4/IPv6 address or CIDR');
  });
});

describe('request-id', () => {
  it('generates an id and a traceparent, keeps a valid incoming trace id as parent', async () => {
    const g = await gw('rid', { 'request-id': {} });
    const a = await call(g);
    expect(a.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
    expect(up(a)['x-request-id']).toBe(a.headers['x-request-id']);
    expect(up(a).traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const b = await call(g, '/', { traceparent: incoming, tracestate: 'k=v', 'x-request-id': 'client-id-1' });
    const tp = up(b).traceparent!;
    expect(tp.slice(0, 36)).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-');
    expect(tp.slice(36, 52)).not.toBe('00f067aa0ba902b7');
    expect(up(b).tracestate).toBe('k=v');
    expect(b.headers['x-request-id']).toBe('client-id-1');
    // Invalid incoming values are replaced, never passed on.
    const c = await call(g, '/', { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'x-request-id': 'bad id with spaces' });
    expect(up(c).traceparent!.slice(3, 35)).not.toBe('00000000000000000000000000000000');
    expect(c.headers['x-request-id']).not.toBe('bad id with spaces');
  });
  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'request-id': { sample_ratio: 2 } } }, 'route r')).toThrow('plugin request-id at route r (route): sample_ratio: must be <= 1, got 2');
  });
});

describe('cors', () => {
  it('answers preflights before auth, adds headers for allowed origins only', async () => {
    const g = await gw('cors', { cors: { allow_origins: ['https://shop.example'], allow_credential: true, max_age: 600 }, 'key-auth': {} });
    const before = upstream.hits();
    const pre = await call(g, '/orders', { origin: 'https://shop.example', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-a' }, 'OPTIONS');
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(pre.headers['access-control-allow-credentials']).toBe('true');
    expect(pre.headers['access-control-allow-headers']).toBe('x-a');
    expect(pre.headers['access-control-max-age']).toBe('600');
    expect(upstream.hits()).toBe(before);
    const ok = await call(g, '/orders', { origin: 'https://shop.example', apikey: 'alice-key-123456' });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(ok.headers.vary).toBe('Origin');
    // Even a 401 carries CORS headers, so the page can read the error.
    expect((await call(g, '/orders', { origin: 'https://shop.example' })).headers['access-control-allow-origin']).toBe('https://shop.example');
    const evil = await call(g, '/orders', { origin: 'https://evil.example', apikey: 'alice-key-123456' });
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
  });
  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { cors: { allow_credential: true } } }, 'route c')).toThrow('plugin cors at route c (route): allow_origins: "*" cannot be used with allow_credential: list the origins');
  });
});

describe('proxy-rewrite and response-rewrite', () => {
  it('rewrites path, host and headers upstream; headers, status and body downstream', async () => {
    const g = await gw('rw', {
      'proxy-rewrite': { regex_uri: ['^/api/(.*)$', '/v2/$1'], host: 'internal.example', headers: { set: { 'x-env': 'prod' }, remove: ['x-debug'] } },
      'response-rewrite': { headers: { set: { 'x-served-by': 'meridian' }, remove: ['x-upstream'] } },
    });
    const r = await call(g, '/api/items?id=3', { 'x-debug': '1' });
    expect(r.json.url).toBe('/v2/items?id=3');
    expect(up(r).host).toBe('internal.example');
    expect(up(r)['x-env']).toBe('prod');
    expect(up(r)['x-debug']).toBeUndefined();
    expect(r.headers['x-served-by']).toBe('meridian');
    expect(r.headers['x-upstream']).toBeUndefined();
    const g2 = await gw('rw2', { 'response-rewrite': { status_code: 503, body: 'maintenance', statuses: [200] } });
    const m = await call(g2, '/');
    expect([m.status, m.text]).toEqual([503, 'maintenance']);
  });
  it('rejects bad config with its exact messages', () => {
    expect(() => registry.compile({ route: { 'proxy-rewrite': { regex_uri: ['(', '/'] } } }, 'route p')).toThrow(/^plugin proxy-rewrite at route p \(route\): regex_uri\[0\]: invalid regular expression: /);
    expect(() => registry.compile({ route: { 'proxy-rewrite': { uri: 'no-slash' } } }, 'route p')).toThrow('plugin proxy-rewrite at route p (route): uri: "no-slash" does not match ^/');
    expect(() => registry.compile({ route: { 'response-rewrite': { status_code: 99 } } }, 'route p')).toThrow('plugin response-rewrite at route p (route): status_code: must be >= 200, got 99');
  });
});

describe('body-limit', () => {
  it('413 on a declared or streamed body over the limit; smaller bodies pass', async () => {
    const g = await gw('bl', { 'body-limit': { max_bytes: 16 } });
    expect((await call(g, '/', { 'content-type': 'text/plain' }, 'POST', 'small')).status).toBe(200);
    const big = await call(g, '/', {}, 'POST', 'x'.repeat(100));
    expect(big.status).toBe(413);
    expect(big.json).toEqual({ request_id: expect.any(String), code: 'MERIDIAN_ERR_PLUGIN_BODY_TOO_LARGE', message: 'request body larger than 16 bytes' });
    async function* chunks() {
      for (let i = 0; i < 10; i++) yield Buffer.from('0123456789');
    }
    expect((await call(g, '/', {}, 'POST', chunks())).status).toBe(413);
  });
  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'body-limit': {} } }, 'route b')).toThrow('plugin body-limit at route b (route): max_bytes: is required');
  });
});

describe('prometheus', () => {
  it('counts per route, upstream and consumer, with a bounded consumer label', async () => {
    plane.consumers = [...plane.consumers, { username: 'bob', plugins: { 'key-auth': { key: 'bob-key-12345678' } } }];
    const g = await gw('prom', { 'key-auth': {}, prometheus: { max_consumers: 1 } });
    await call(g, '/', { apikey: 'alice-key-123456' });
    await call(g, '/', { apikey: 'alice-key-123456' });
    await call(g, '/', { apikey: 'bob-key-12345678' });
    await call(g, '/');
    // The log phase counts once the response is over: the fourth request shows up shortly after its answer.
    const count = (labels: Record<string, string>) => gatewayMetric(gateway!, 'meridian_plugin_requests_total', { route: 'prom', upstream: 'up-prom', ...labels });
    await expect.poll(() => gatewayMetric(gateway!, 'meridian_plugin_request_duration_seconds_count', { route: 'prom', upstream: 'up-prom' })).toBe(4);
    expect(await count({ consumer: 'alice', code: '200' })).toBe(2);
    expect(await count({ consumer: 'other', code: '200' })).toBe(1);
    expect(await count({ consumer: '', code: '401' })).toBe(1);
  });
  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { prometheus: { max_consumers: 'all' } } }, 'route m')).toThrow('plugin prometheus at route m (route): max_consumers: must be an integer, got string "all"');
  });
});
