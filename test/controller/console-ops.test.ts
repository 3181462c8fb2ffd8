import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, useServers, type ConsulServer } from '../harness/index.js';
import type { spawnMeridian } from '../harness/cli.js';
import { PROJECT_ROOT } from '../../src/core/servers/binaries.js';
import type { Controller } from '../../controller/controller.js';
import type { ControllerStatus } from '../../controller/status.js';
import type { Deployment } from '../../src/core/model/index.js';
import { call, startController, TOKENS } from './helpers.js';
import { CHROMIUM, launchConsoleBrowser, screenshotDir, spawnEastGateway, signIn } from './console-browser.js';

// The console's virtual domains, deployments and operations pages in headless chromium against
// a real controller, etcd (central and regional), Consul (region east's datacenter) and one real
// `meridian gateway` registered in region east.
const SHOTS = screenshotDir();
const servers = await useServers();
const dir = mkdtempSync(join(tmpdir(), 'meridian-console-ops-'));
let ctl: Controller;
let consul: ConsulServer;
let backend: Server;
let context: BrowserContext;
let gateway: ReturnType<typeof spawnMeridian>;
const pageErrors: string[] = [];

beforeAll(async () => {
  execFileSync(process.execPath, [join(PROJECT_ROOT, 'scripts', 'prepare.mjs'), 'console'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  const [central, east, c] = await Promise.all([servers.etcd(), servers.etcd(), servers.consul('east')]);
  consul = c;
  ctl = await startController(central.endpoint);
  // The backend answers the upstreams and is the instance's HTTP health check target.
  backend = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const port = (backend.address() as AddressInfo).port;
  const [http, admin] = [await freePort(), await freePort()];
  await call(ctl.url, 'PUT', '/v1/regions/east', { body: { etcd: { endpoints: [east.endpoint] }, consul: { http: consul.httpUrl, dns: `${consul.dns.host}:${consul.dns.port}`, datacenter: 'east' }, clusters: [{ name: 'c1', nodes: [{ name: 'gw1', address: '127.0.0.1', port: http, admin: `http://127.0.0.1:${admin}` }] }] } });
  for (const u of ['v1', 'v2']) await call(ctl.url, 'PUT', `/v1/upstreams/${u}`, { body: { nodes: [{ host: '127.0.0.1', port }] } });
  for (const r of ['shop', 'cart']) await call(ctl.url, 'PUT', `/v1/routes/${r}`, { body: { paths: [`/${r}`], upstream_id: 'v1' } });
  await call(ctl.url, 'PUT', '/v1/upstreams/api', { body: { discovery: { type: 'consul', service: 'api' } } });
  gateway = spawnEastGateway({ dir, etcd: east.endpoint, http, admin });
  await consul.register({ id: 'api-1', name: 'api', address: '127.0.0.1', port, check: { http: `http://127.0.0.1:${port}/health`, interval: '1s', timeout: '1s' } });
  if (!existsSync(CHROMIUM)) return;
  context = await launchConsoleBrowser();
  context.on('console', (m) => { if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) pageErrors.push(m.text()); });
  context.on('weberror', (e) => pageErrors.push(e.error().message));
  await eventually(async () => (await call<ControllerStatus>(ctl.url, 'GET', '/v1/status')).body.regions[0]?.nodes[0]?.state === 'in_sync', 30_000, 200);
}, 60_000);
afterAll(async () => {
  await context?.close();
  if (gateway && gateway.exitCode === null) gateway.kill('SIGKILL');
  await ctl?.stop();
  backend?.close();
});

const go = async (page: Page, link: string): Promise<void> => {
  await page.getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: link }).waitFor();
};
const deployment = (id: string) => call<Deployment>(ctl.url, 'GET', `/v1/deployments/${id}`).then((r) => r.body);

describe.skipIf(!existsSync(CHROMIUM))('the console: virtual domains, deployments, operations', () => {
  it('allocates a virtual domain, binds a domain and shows the CNAME to publish and the computed order for a client in east', async () => {
    const page = await signIn(context, ctl.url, TOKENS.admin);
    await go(page, 'Virtual domains');
    await page.getByLabel('Policy').selectOption('failover');
    await page.getByLabel('Failover regions').fill('east');
    await page.getByLabel('Description').fill('shop front');
    await page.getByRole('button', { name: 'Allocate' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/^allocated [0-9a-f-]{36}\./);
    const vd = (await call<{ items: Array<{ id: string; value: { name: string } }> }>(ctl.url, 'GET', '/v1/vdomains')).body.items[0];
    expect(vd).toBeDefined();
    const row = page.locator(`tr[data-vdomain="${vd?.id}"]`);
    await expect.poll(() => row.textContent()).toContain('failover east');
    expect(await row.getByTestId('preview').textContent()).toBe('east');

    await page.getByLabel('Domain', { exact: true }).fill('api.shop.test');
    await page.getByRole('button', { name: 'Bind' }).click();
    await expect.poll(() => page.getByTestId('cname').textContent()).toContain(`api.shop.test. 300 IN CNAME ${vd?.value.name}.`);
    expect(await page.getByTestId('cname').textContent()).toContain('outside the zones Meridian DNS serves');
    await expect.poll(() => row.textContent()).toContain('api.shop.test');
    expect((await call(ctl.url, 'GET', '/v1/bindings/api.shop.test')).body).toMatchObject({ vdomain: vd?.id });
    await page.screenshot({ path: join(SHOTS, 'vdomains.png'), fullPage: true });
    await page.close();
  }, 30_000);

  it('creates a canary and promotes it to the end; another is rolled back', async () => {
    const page = await signIn(context, ctl.url, TOKENS.write);
    await go(page, 'Deployments');
    for (const [id, route] of [['canary', 'shop'], ['canary-cart', 'cart']] as const) {
      await page.getByLabel('Deployment id').fill(id);
      await page.getByLabel('Target').fill(route);
      await page.getByLabel('From').fill('v1');
      await page.getByLabel('To').fill('v2');
      await page.getByLabel('Steps').fill('10, 50, 100');
      await page.getByRole('button', { name: 'Create' }).click();
      await page.locator(`tr[data-deployment="${id}"][data-state="pending"]`).waitFor();
    }
    const row = (id: string) => page.locator(`tr[data-deployment="${id}"]`);
    await row('canary').getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => row('canary').getByTestId('split').textContent()).toBe('90% v1 / 10% v2');
    expect((await call(ctl.url, 'GET', '/v1/routes/shop')).body).toMatchObject({ split: { upstream_id: 'v2', weight: 10 } });
    await row('canary').getByRole('button', { name: 'Promote' }).click();
    await expect.poll(() => row('canary').getByTestId('split').textContent()).toBe('50% v1 / 50% v2');
    await page.screenshot({ path: join(SHOTS, 'deployments.png'), fullPage: true });
    await row('canary').getByRole('button', { name: 'Promote' }).click();
    await expect.poll(() => row('canary').getAttribute('data-state')).toBe('promoted');
    expect(await row('canary').getByTestId('split').textContent()).toBe('100% v2');
    expect((await deployment('canary')).state).toBe('promoted');
    expect((await call(ctl.url, 'GET', '/v1/routes/shop')).body).toMatchObject({ upstream_id: 'v2' });

    await row('canary-cart').getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => row('canary-cart').getAttribute('data-state')).toBe('running');
    await row('canary-cart').getByRole('button', { name: 'Roll back' }).click();
    await expect.poll(() => row('canary-cart').getAttribute('data-state')).toBe('rolled_back');
    expect(await row('canary-cart').getByTestId('split').textContent()).toBe('100% v1');
    const cart = (await call(ctl.url, 'GET', '/v1/routes/cart')).body;
    expect([cart.upstream_id, cart.split]).toEqual(['v1', undefined]);
    // A rolled-back deployment can be started again: the button is back.
    expect(await row('canary-cart').getByRole('button', { name: 'Start' }).count()).toBe(1);
    await page.close();
  }, 30_000);

  it('drains an instance showing the gateway node\'s ack as it arrives, undrains it; the audit log names who changed what', async () => {
    await eventually(async () => (await consul.client.healthService('api', { dc: 'east' })).value.some((i) => i.id === 'api-1' && i.status === 'passing'), 15_000);
    const page = await signIn(context, ctl.url, TOKENS.admin);
    await go(page, 'Operations');
    await page.getByLabel('Service', { exact: true }).fill('api');
    await page.getByLabel('Instance', { exact: true }).fill('api-1');
    await page.getByLabel('Datacenter', { exact: true }).fill('east');
    await page.getByRole('button', { name: 'Drain', exact: true }).click();
    await expect.poll(() => page.getByRole('status').textContent(), { timeout: 15_000 }).toBe('drained api-1: 1 gateway node(s) acked');
    const progress = page.getByTestId('progress');
    expect(await progress.locator('li[data-stage="deregistered"]').textContent()).toContain('deregistered api/api-1 from Consul east (registration recorded for undrain)');
    expect(await progress.locator('li[data-stage="catalog"]').textContent()).toContain("Consul's catalog no longer lists api-1");
    expect(await progress.locator('li[data-stage="ack"]').textContent()).toMatch(/east\/c1\/gw1: acked in \d+ ms/);
    expect((await consul.client.healthService('api', { dc: 'east' })).value.some((i) => i.id === 'api-1')).toBe(false);
    await page.screenshot({ path: join(SHOTS, 'operations-drain.png'), fullPage: true });

    await page.getByRole('button', { name: 'Undrain' }).click();
    await expect.poll(() => page.getByRole('status').textContent(), { timeout: 15_000 }).toBe('undrained api-1: 1 gateway node(s) acked');
    expect(await progress.locator('li[data-stage="registered"]').textContent()).toContain('registered api/api-1 again in Consul east');
    expect(await progress.locator('li[data-stage="ack"]').textContent()).toMatch(/east\/c1\/gw1: acked in \d+ ms/);
    expect((await consul.client.healthService('api', { dc: 'east' })).value.some((i) => i.id === 'api-1')).toBe(true);

    // The audit log: the deployments' and the binding's writers, the changed fields of an update.
    await page.reload();
    const audit = page.getByTestId('audit');
    await expect.poll(() => audit.locator('tr[data-kind="bindings"][data-id="api.shop.test"]').textContent()).toMatch(/admin-user.*create bindings\/api\.shop\.test/);
    // Newest first: the last promote, by the write token, with the fields it changed.
    expect(await audit.locator('tr[data-kind="deployments"][data-id="canary"]').first().textContent()).toMatch(/write-user write.*deploy promote deployments\/canary.*state, step, history/);
    await page.getByTestId('purges').or(page.getByText('No purges yet.')).waitFor();
    await page.screenshot({ path: join(SHOTS, 'operations.png'), fullPage: true });
    await page.close();
  }, 45_000);

  it('a read token sees no edit controls on these pages (and no audit log); the JavaScript stays small', async () => {
    const page = await signIn(context, ctl.url, TOKENS.read);
    await go(page, 'Virtual domains');
    await page.getByTestId('vdomains').waitFor();
    expect(await page.locator('.edit-control').count()).toBe(0);
    expect(await page.getByLabel('Client region').count()).toBe(1);
    await go(page, 'Deployments');
    await page.getByTestId('deployments').waitFor();
    expect(await page.locator('.edit-control, button:text("Start"), button:text("Promote")').count()).toBe(0);
    await go(page, 'Operations');
    await page.getByText('The audit log is for admin tokens.').waitFor();
    expect(await page.locator('.edit-control').count()).toBe(0);
    expect(await page.getByTestId('audit').count()).toBe(0);
    await page.close();
    expect(pageErrors).toEqual([]);

    const html = await (await fetch(`${ctl.url}/ui/`)).text();
    const script = /src="\/ui\/(assets\/[^"]+\.js)"/.exec(html)?.[1] as string;
    const js = readFileSync(join(PROJECT_ROOT, 'dist', 'console', script));
    console.log(`[console] JavaScript with the virtual domains, deployments and operations pages: ${js.length} bytes, ${gzipSync(js).length} bytes gzipped`);
    expect(gzipSync(js).length).toBeLessThan(300 * 1024);
  }, 30_000);
});
