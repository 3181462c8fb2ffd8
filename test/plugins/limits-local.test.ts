import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinRegistry } from '../../src/plugins/index.js';
import { take } from '../../src/plugins/limit-req.js';
import { echoUpstream } from './helpers/upstream.js';
import { callRoute, DataPlane, startPluginGateway, type Answer, type PluginGateway } from './helpers/meridian-gateway.js';

/** The local limit plugins in `meridian gateway` (one worker, file config); config checks on the registry. */
const registry = builtinRegistry();
const dir = mkdtempSync(join(tmpdir(), 'meridian-limits-local-'));
let upstream: Awaited<ReturnType<typeof echoUpstream>>;
let gateway: PluginGateway | undefined;
const plane = new DataPlane(join(dir, 'routes.yaml'), () => (gateway ? [gateway] : []));
let slowUrl = '';
let release: () => void = () => undefined;
let held = 0;
const slow = createServer((_req, res) => {
  // Holds every request until the test releases them: concurrency is then observable.
  held++;
  const go = () => res.end('done');
  const prev = release;
  release = () => {
    prev();
    go();
  };
});

beforeAll(async () => {
  upstream = await echoUpstream();
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
  plane.write();
  gateway = await startPluginGateway({ dir, name: 'gw-limits-local' });
}, 60_000);
afterAll(async () => {
  await gateway?.stop();
  await upstream.close();
  slow.closeAllConnections();
  slow.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Route `id` with `plugins`, served by the gateway once this resolves. */
async function gw(id: string, plugins: Record<string, unknown>, upstreamUrl = upstream.url): Promise<string> {
  await plane.route(id, plugins, upstreamUrl).apply();
  return id;
}
async function status(g: string, headers: Record<string, string> = {}) {
  return (await callRoute(gateway!, g, { headers })).status;
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
    const before = held;
    const inFlight: Array<Promise<Answer>> = [callRoute(gateway!, g), callRoute(gateway!, g)];
    // Both are admitted: the upstream holds them.
    await expect.poll(() => held - before).toBe(2);
    const third = await callRoute(gateway!, g);
    expect(third.status).toBe(429);
    expect(JSON.parse(third.text)).toEqual({ request_id: expect.any(String), code: 'MERIDIAN_ERR_PLUGIN_TOO_MANY_CONNECTIONS', message: 'too many concurrent requests' });
    release();
    for (const h of inFlight) expect((await h).status).toBe(200);
    // The slots come back when the responses close (a moment after the client read them at most):
    // a request is admitted again and reaches the upstream.
    let fourth: Promise<Answer> | undefined;
    await expect.poll(async () => {
      const heldBefore = held;
      const attempt = callRoute(gateway!, g);
      let timer: NodeJS.Timeout | undefined;
      const reachedUpstream = new Promise<'held'>((resolve) => {
        timer = setInterval(() => held > heldBefore && resolve('held'), 5);
      });
      const outcome = await Promise.race([attempt.then((r) => r.status), reachedUpstream]).finally(() => clearInterval(timer));
      if (outcome === 'held') fourth = attempt;
      return outcome;
    }).toBe('held');
    release();
    expect((await fourth!).status).toBe(200);
  });

  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'limit-conn': { max: 1, key_type: 'cookie' } } }, 'route q')).toThrow(/^plugin limit-conn at route q \(route\): key_type: must be one of "consumer", "ip", "header", "route"/);
  });
});
