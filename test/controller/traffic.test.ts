import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, useServers } from '../harness/index.js';
import type { spawnMeridian } from '../harness/cli.js';
import { PROJECT_ROOT } from '../../src/core/servers/binaries.js';
import type { Controller } from '../../controller/controller.js';
import type { TrafficReport } from '../../controller/traffic/scraper.js';
import type { TrafficRow } from '../../controller/traffic/window.js';
import { call, runCtl, startController, TOKENS } from './helpers.js';
import { CHROMIUM, launchConsoleBrowser, screenshotDir, spawnEastGateway, signIn } from './console-browser.js';
import { execFileSync } from 'node:child_process';

// GET /v1/traffic, `ctl top` and the console's Traffic page against a real controller and etcd
// and a real `meridian gateway` in region east, with requests sent through the gateway all along:
// route shop answers 200, route broken's upstream answers 500.
const SHOTS = screenshotDir();
const servers = await useServers();
const dir = mkdtempSync(join(tmpdir(), 'meridian-traffic-'));
let ctl: Controller;
let backend: Server;
let gateway: ReturnType<typeof spawnMeridian>;
let context: BrowserContext | undefined;
let sending = true;
let load: Promise<void> = Promise.resolve();
const pageErrors: string[] = [];

const traffic = async (): Promise<TrafficReport> => (await call<TrafficReport>(ctl.url, 'GET', '/v1/traffic', { token: TOKENS.read })).body;
const row = (rows: TrafficRow[], name: string): TrafficRow | undefined => rows.find((r) => r.name === name);

beforeAll(async () => {
  execFileSync(process.execPath, [join(PROJECT_ROOT, 'scripts', 'prepare.mjs'), 'console'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  const [central, east] = await Promise.all([servers.etcd(), servers.etcd()]);
  ctl = await startController(central.endpoint, { traffic: { scrape_interval_ms: 300, node_timeout_ms: 1000, idle_s: 60 } });
  backend = createServer((req, res) => {
    res.statusCode = req.url?.startsWith('/broken') ? 500 : 200;
    res.end('x');
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const [http, admin] = [await freePort(), await freePort()];
  await call(ctl.url, 'PUT', '/v1/regions/east', { body: { etcd: { endpoints: [east.endpoint] }, clusters: [{ name: 'c1', nodes: [{ name: 'gw1', address: '127.0.0.1', port: http, admin: `http://127.0.0.1:${admin}` }] }] } });
  await call(ctl.url, 'PUT', '/v1/upstreams/u1', { body: { nodes: [{ host: '127.0.0.1', port: (backend.address() as { port: number }).port }] } });
  await call(ctl.url, 'PUT', '/v1/routes/shop', { body: { paths: ['/shop'], upstream_id: 'u1' } });
  await call(ctl.url, 'PUT', '/v1/routes/broken', { body: { paths: ['/broken'], upstream_id: 'u1' } });
  gateway = spawnEastGateway({ dir, etcd: east.endpoint, http, admin });
  await eventually(async () => (await fetch(`http://127.0.0.1:${http}/shop`).then((r) => r.status, () => 0)) === 200, 30_000, 100);
  // Steady load for the whole file: ~25 req/s on shop, ~10 req/s on broken.
  load = (async () => {
    for (let i = 0; sending; i++) {
      await Promise.all([fetch(`http://127.0.0.1:${http}/shop`).then((r) => r.text(), () => ''), ...(i % 5 < 2 ? [fetch(`http://127.0.0.1:${http}/broken`).then((r) => r.text(), () => '')] : [])]);
      await new Promise((r) => setTimeout(r, 40));
    }
  })();
  if (!existsSync(CHROMIUM)) return;
  context = await launchConsoleBrowser({ width: 1280, height: 900 });
  context.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  context.on('weberror', (e) => pageErrors.push(e.error().message));
}, 60_000);
afterAll(async () => {
  sending = false;
  await load;
  await context?.close();
  if (gateway && gateway.exitCode === null) gateway.kill('SIGKILL');
  await ctl?.stop();
  backend?.close();
});

describe('traffic from the gateways, aggregated by the controller', () => {
  it('GET /v1/traffic: per region and per route rates, the failing upstream as 5xx, p99 from the histogram', async () => {
    const first = await traffic();
    expect(first.scraping).toBe(true);
    expect(first.interval_ms).toBe(300);
    expect(first.window_ms).toBe(15 * 60_000);
    await eventually(async () => {
      const r = await traffic();
      const shop = row(r.routes, 'shop')?.current;
      const broken = row(r.routes, 'broken')?.current;
      return r.ready && shop !== undefined && shop.rps > 2 && broken !== undefined && broken.r5xx > 1;
    }, 20_000, 200);
    const r = await traffic();
    expect(r.nodes).toEqual({ scraped: 1, failed: [] });
    const shop = row(r.routes, 'shop') as TrafficRow;
    const broken = row(r.routes, 'broken') as TrafficRow;
    expect(shop.current.r5xx).toBe(0);
    expect(shop.current.p99_ms).toBeGreaterThan(0);
    expect(broken.current.r5xx).toBeCloseTo(broken.current.rps, 5);
    const east = row(r.regions, 'east') as TrafficRow;
    expect(east.current.rps).toBeGreaterThanOrEqual(broken.current.r5xx);
    expect(east.current.r5xx).toBeGreaterThan(0);
    expect(east.current.p99_ms).toBeGreaterThan(0);
    // Columns aligned with the times, oldest first.
    expect(r.times.length).toBeGreaterThanOrEqual(2);
    expect([...r.times].sort((a, b) => a - b)).toEqual(r.times);
    for (const s of [east.series, shop.series]) for (const col of [s.rps, s.r4xx, s.r5xx, s.p99_ms]) expect(col).toHaveLength(r.times.length);
    // The OpenAPI document lists it, for the read role; no token, no traffic.
    const doc = (await call<{ paths: Record<string, Record<string, { 'x-meridian-role'?: string }>> }>(ctl.url, 'GET', '/openapi.json', { token: null })).body;
    expect(doc.paths['/v1/traffic']?.get?.['x-meridian-role']).toBe('read');
    expect((await call(ctl.url, 'GET', '/v1/traffic', { token: null })).status).toBe(401);
  });

  it('ctl top --once prints the region and route table', async () => {
    const r = await runCtl(ctl.url, ['top', '--once'], { token: TOKENS.read });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^traffic at \S+Z \(1 node\(s\) scraped every 0\.3s\)$/);
    expect(lines).toContainEqual(expect.stringMatching(/^REGION\s+REQ\/S\s+4XX\/S\s+5XX\/S\s+P99$/));
    expect(lines).toContainEqual(expect.stringMatching(/^east\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+ms$/));
    const broken = lines.find((l) => l.startsWith('broken '))?.split(/\s+/) ?? [];
    expect(Number(broken[3])).toBeGreaterThan(0);
    expect(broken[1]).toBe(broken[3]);
    expect(lines).toContainEqual(expect.stringMatching(/^shop\s+[\d.]+\s+0\s+0\s+[\d.]+ms$/));
  });

  it.runIf(existsSync(CHROMIUM))('the console\'s Traffic page charts each region and lists the routes', async () => {
    const page = await signIn(context as BrowserContext, ctl.url, TOKENS.read);
    await page.getByRole('link', { name: 'Traffic' }).click();
    expect(new URL(page.url()).pathname).toBe('/ui/traffic');
    const east = page.locator('[data-region="east"]');
    await east.getByTestId('chart-requests').locator('path.line').waitFor();
    await expect.poll(async () => (await east.getByTestId('chart-requests').locator('path.line').getAttribute('d'))?.split('L').length ?? 0, { timeout: 10_000 }).toBeGreaterThan(2);
    await expect.poll(async () => (await east.getByTestId('chart-errors').locator('path.line').count())).toBe(2);
    const broken = page.locator('[data-testid="traffic-routes"] tr[data-route="broken"] td');
    await expect.poll(async () => Number(await broken.nth(3).textContent()), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(async () => await page.locator('[data-testid="traffic-routes"] tr[data-route="shop"] td').nth(3).textContent()).toBe('0');
    await page.screenshot({ path: join(SHOTS, 'traffic.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
