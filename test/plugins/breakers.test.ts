import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinRegistry } from '../../src/plugins/index.js';
import { rejectProbability } from '../../src/plugins/adaptive-throttle.js';
import { echoUpstream } from './helpers/upstream.js';
import { callRoute, DataPlane, startPluginGateway, type PluginGateway } from './helpers/meridian-gateway.js';

/** The breaker plugins in `meridian gateway` (one worker, file config); config checks on the registry. */
const registry = builtinRegistry();
const dir = mkdtempSync(join(tmpdir(), 'meridian-breakers-'));
let upstream: Awaited<ReturnType<typeof echoUpstream>>;
let gateway: PluginGateway | undefined;
const plane = new DataPlane(join(dir, 'routes.yaml'), () => (gateway ? [gateway] : []));

beforeAll(async () => {
  upstream = await echoUpstream();
  plane.write();
  gateway = await startPluginGateway({ dir, name: 'gw-breakers' });
}, 60_000);
afterAll(async () => {
  await gateway?.stop();
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Route `id` (upstream `up-<id>`) with `plugins`, served by the gateway once this resolves. */
async function gw(id: string, plugins: Record<string, unknown>, upstreamUrl = upstream.url): Promise<string> {
  await plane.route(id, plugins, upstreamUrl).apply();
  return id;
}
const call = (id: string) => callRoute(gateway!, id);
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
