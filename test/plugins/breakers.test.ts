import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { builtinRegistry } from '../../src/plugins/index.js';
import { rejectProbability } from '../../src/plugins/adaptive-throttle.js';
import { echoUpstream, miniGateway, route, type MiniGateway } from './helpers/gateway.js';
import { testServices } from './helpers/services.js';

const registry = builtinRegistry();
let upstream: Awaited<ReturnType<typeof echoUpstream>>;
const open: MiniGateway[] = [];

beforeAll(async () => {
  await registry.init(testServices({ list: [] }));
  upstream = await echoUpstream();
});
afterAll(async () => {
  await Promise.all(open.map((g) => g.close()));
  await upstream.close();
  await registry.close();
});

async function gw(id: string, plugins: Record<string, unknown>, upstreamUrl = upstream.url): Promise<MiniGateway> {
  const g = await miniGateway({ registry, route: route(id, plugins), upstreamUrl, upstreamId: `up-${id}` });
  open.push(g);
  return g;
}
async function call(g: MiniGateway) {
  const r = await request(`${g.url}/`);
  const text = await r.body.text();
  return { status: r.statusCode, headers: r.headers, text };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('circuit-breaker (consecutive failures, half-open probes)', () => {
  it('opens after N failures, answers 503 with a coded body, probes, closes on success', async () => {
    const g = await gw('cb', { 'circuit-breaker': { failures: 3, open_ms: 300 } });
    upstream.setStatus(502);
    for (let i = 0; i < 3; i++) expect((await call(g)).status).toBe(502);
    const hits = upstream.hits();
    const open1 = await call(g);
    expect(open1.status).toBe(503);
    expect(JSON.parse(open1.text)).toEqual({ request_id: expect.any(String), code: 'MERIDIAN_ERR_PLUGIN_CIRCUIT_OPEN', message: 'upstream up-cb is unavailable (circuit circuit-breaker open)' });
    expect(open1.headers['retry-after']).toBe('1');
    expect(upstream.hits()).toBe(hits);
    // Half-open: one probe fails -> open again, for twice as long.
    await sleep(350);
    expect((await call(g)).status).toBe(502);
    expect((await call(g)).status).toBe(503);
    await sleep(350);
    expect((await call(g)).status).toBe(503); // 600 ms open now
    await sleep(300);
    upstream.setStatus(200);
    expect((await call(g)).status).toBe(200); // the probe succeeds: closed
    for (let i = 0; i < 5; i++) expect((await call(g)).status).toBe(200);
  });

  it('counts connection failures (no upstream status)', async () => {
    const g = await gw('cb-down', { 'circuit-breaker': { failures: 2, open_ms: 10_000 } }, 'http://127.0.0.1:9');
    expect((await call(g)).status).toBe(502);
    expect((await call(g)).status).toBe(502);
    expect((await call(g)).status).toBe(503);
  });

  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ upstream: { 'circuit-breaker': { open_ms: 1000, max_open_ms: 10 } } }, 'route x')).toThrow('plugin circuit-breaker at route x (upstream): max_open_ms: must be >= open_ms (1000)');
  });
});

describe('adaptive-throttle (Google SRE client-side throttling)', () => {
  it('the formula: max(0, (requests - K*accepts) / (requests + 1))', () => {
    expect(rejectProbability(100, 100, 2)).toBe(0);
    expect(rejectProbability(100, 50, 2)).toBe(0);
    expect(rejectProbability(100, 0, 2)).toBeCloseTo(100 / 101);
    expect(rejectProbability(100, 25, 2)).toBeCloseTo(50 / 101);
  });

  it('lets everything through while the upstream accepts, sheds load when it fails, recovers', async () => {
    const g = await gw('at', { 'adaptive-throttle': { k: 2, window_ms: 1_000, buckets: 10 } });
    upstream.setStatus(200);
    for (let i = 0; i < 30; i++) expect((await call(g)).status).toBe(200);
    upstream.setStatus(503);
    await sleep(1_050); // the healthy history leaves the window
    const before = upstream.hits();
    let local = 0;
    for (let i = 0; i < 100; i++) {
      const r = await call(g);
      expect(r.status).toBe(503);
      if (r.text.includes('MERIDIAN_ERR_PLUGIN_CIRCUIT_OPEN')) local++;
    }
    const reached = upstream.hits();
    // Once failures dominate most requests are shed locally; a few still reach the upstream.
    expect(local).toBeGreaterThan(60);
    expect(reached - before).toBeGreaterThan(0);
    upstream.setStatus(200);
    await sleep(1_050);
    const after: number[] = [];
    for (let i = 0; i < 20; i++) after.push((await call(g)).status);
    expect(after.every((s) => s === 200)).toBe(true);
    expect(upstream.hits()).toBeGreaterThan(reached);
  });

  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ upstream: { 'adaptive-throttle': { k: 0.5 } } }, 'route x')).toThrow('plugin adaptive-throttle at route x (upstream): k: must be >= 1, got 0.5');
  });
});
