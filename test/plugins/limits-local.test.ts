import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { builtinRegistry } from '../../src/plugins/index.js';
import { take } from '../../src/plugins/limit-req.js';
import { miniGateway, route, type MiniGateway } from './helpers/gateway.js';
import { testServices } from './helpers/services.js';

const registry = builtinRegistry();
const open: MiniGateway[] = [];
let slowUrl = '';
let release: () => void = () => undefined;
const slow = createServer((_req, res) => {
  // Holds every request until the test releases them: concurrency is then observable.
  const go = () => res.end('done');
  const prev = release;
  release = () => {
    prev();
    go();
  };
});

beforeAll(async () => {
  await registry.init(testServices({ list: [] }));
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await Promise.all(open.map((g) => g.close()));
  slow.closeAllConnections();
  slow.close();
  await registry.close();
});

async function gw(id: string, plugins: Record<string, unknown>, upstreamUrl?: string): Promise<MiniGateway> {
  const g = await miniGateway({ registry, route: route(id, plugins), upstreamUrl });
  open.push(g);
  return g;
}
async function status(g: MiniGateway, headers: Record<string, string> = {}) {
  const r = await request(`${g.url}/`, { headers });
  await r.body.dump();
  return r.statusCode;
}

describe('limit-req (token bucket with burst)', () => {
  it('admits burst+1 at once, then the rate', () => {
    const cfg = { rate: 10, burst: 2, delay: false, key_type: 'ip' as const };
    const t0 = 1_000_000;
    expect([0, 0, 0, 0].map(() => take('k1', cfg, t0).ok)).toEqual([true, true, true, false]);
    expect(take('k1', cfg, t0 + 50).ok).toBe(false);
    expect(take('k1', cfg, t0 + 100).ok).toBe(true); // 10/s: one token per 100 ms
    expect(take('k1', cfg, t0 + 150).ok).toBe(false);
  });

  it('with delay, requests within the burst wait instead of failing', () => {
    const cfg = { rate: 10, burst: 2, delay: true, key_type: 'ip' as const };
    const t0 = 2_000_000;
    const r = [take('k2', cfg, t0), take('k2', cfg, t0), take('k2', cfg, t0), take('k2', cfg, t0), take('k2', cfg, t0)];
    expect(r.map((x) => x.ok)).toEqual([true, true, true, true, true]);
    expect(Math.round(r[4]!.waitMs)).toBe(200);
    expect(take('k2', cfg, t0).ok).toBe(false);
  });

  it('answers 429 with Retry-After over the gateway, per key', async () => {
    const g = await gw('lr', { 'limit-req': { rate: 1, burst: 1, key_type: 'header', header: 'x-user' } });
    const a = [await status(g, { 'x-user': 'a' }), await status(g, { 'x-user': 'a' }), await status(g, { 'x-user': 'a' })];
    expect(a).toEqual([200, 200, 429]);
    expect(await status(g, { 'x-user': 'b' })).toBe(200);
  });

  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'limit-req': { rate: 0 } } }, 'route q')).toThrow('plugin limit-req at route q (route): rate: must be > 0, got 0');
  });
});

describe('limit-conn (concurrent requests)', () => {
  it('admits max concurrent requests, refuses more, frees slots when responses end', async () => {
    const g = await gw('lcn', { 'limit-conn': { max: 2, key_type: 'route' } }, slowUrl);
    const held = [request(`${g.url}/`), request(`${g.url}/`)];
    await new Promise((r) => setTimeout(r, 100));
    const third = await request(`${g.url}/`);
    expect(third.statusCode).toBe(429);
    expect(await third.body.json()).toEqual({ request_id: expect.any(String), code: 'MERIDIAN_ERR_PLUGIN_TOO_MANY_CONNECTIONS', message: 'too many concurrent requests' });
    release();
    for (const h of held) {
      const r = await h;
      expect(r.statusCode).toBe(200);
      await r.body.dump();
    }
    await new Promise((r) => setTimeout(r, 50));
    const fourth = request(`${g.url}/`);
    await new Promise((r) => setTimeout(r, 50));
    release();
    expect((await fourth).statusCode).toBe(200);
  });

  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'limit-conn': { max: 1, key_type: 'cookie' } } }, 'route q')).toThrow(/^plugin limit-conn at route q \(route\): key_type: must be one of "consumer", "ip", "header", "route"/);
  });
});
