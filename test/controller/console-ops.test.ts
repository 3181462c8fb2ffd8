import { execFileSync } from 'node:child_process';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { allocateLoopback, eventually, freePort, useServers, type ConsulServer } from '../harness/index.js';
import { spawnMeridian } from '../harness/cli.js';
import { PROJECT_ROOT } from '../../src/core/servers/binaries.js';
import type { Controller } from '../../controller/controller.js';
import type { ControllerStatus } from '../../controller/status.js';
import type { Deployment } from '../../src/core/model/index.js';
import type { DeploymentLive } from '../../controller/deploy/live.js';
import { call, startController, TOKENS } from './helpers.js';
import { CHROMIUM, launchConsoleBrowser, screenshotDir, signIn, spawnRegionNode } from './console-browser.js';
import { spawnDns } from './dns-process.js';

// The console's virtual domains, deployments, operations and overview pages in headless
// chromium against a real controller, etcd (central, and one per region), Consul (region east's
// datacenter), a real `meridian gateway` in each of two regions (east and west, each on a
// loopback address of its own), a real `meridian prober` in each region and a real
// `meridian dns`, which the virtual domains page asks what a client in each region gets.
const SHOTS = screenshotDir();
const servers = await useServers();
const dir = mkdtempSync(join(tmpdir(), 'meridian-console-ops-'));
const REGIONS = ['east', 'west'] as const;
type RegionName = (typeof REGIONS)[number];
const CIDR: Record<RegionName, string> = { east: '10.21.0.0/16', west: '10.22.0.0/16' };
let ctl: Controller;
let consul: ConsulServer;
let backend: Server;
let failing: Server;
let context: BrowserContext;
let dns: Awaited<ReturnType<typeof spawnDns>>;
const gateways = {} as Record<RegionName, { host: string; http: number; child: ReturnType<typeof spawnMeridian> }>;
const probers: Array<ReturnType<typeof spawnMeridian>> = [];
const pageErrors: string[] = [];

const listen = async (handler: (res: ServerResponse) => void): Promise<Server> => {
  const server = createServer((_req, res) => handler(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return server;
};

beforeAll(async () => {
  execFileSync(process.execPath, [join(PROJECT_ROOT, 'scripts', 'prepare.mjs'), 'console'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  const [central, east, west, c] = await Promise.all([servers.etcd(), servers.etcd(), servers.etcd(), servers.consul('east')]);
  consul = c;
  dns = await spawnDns({ dir, etcd: central.endpoint });
  ctl = await startController(central.endpoint, { dns: { servers: [dns.server] } });
  // The backend answers upstream v1 and is the instance's HTTP health check target; v2, the
  // canaries' new side, answers 500.
  backend = await listen((res) => res.end('ok'));
  failing = await listen((res) => res.writeHead(500).end('broken'));
  const port = (backend.address() as AddressInfo).port;
  const etcdOf: Record<RegionName, string> = { east: east.endpoint, west: west.endpoint };
  for (const [i, region] of REGIONS.entries()) {
    const host = await allocateLoopback([]);
    const [http, admin] = [await freePort(), await freePort()];
    const r = await call(ctl.url, 'PUT', `/v1/regions/${region}`, { body: {
      etcd: { endpoints: [etcdOf[region]] }, cidrs: [{ cidr: CIDR[region] }], failover: REGIONS.filter((x) => x !== region),
      ...(region === 'east' ? { consul: { http: consul.httpUrl, dns: `${consul.dns.host}:${consul.dns.port}`, datacenter: 'east' } } : {}),
      clusters: [{ name: 'c1', nodes: [{ name: 'gw1', address: host, port: http, admin: `http://${host}:${admin}` }] }],
    } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    gateways[region] = { host, http, child: spawnRegionNode({ dir, region, host, etcd: etcdOf[region], http, admin }) };
    const proberAdmin = await freePort();
    // Every region's nodes from each region (the probers' default), as operators run them.
    writeFileSync(join(dir, `prober-${region}.yaml`), stringify({ name: `p-${region}`, region, admin: `127.0.0.1:${proberAdmin}`, etcd: { endpoints: [central.endpoint] }, interval_ms: 200, timeout_ms: 150, rise: 1, fall: 2, lease_ttl_s: 2 }));
    probers[i] = spawnMeridian(['prober', '-c', join(dir, `prober-${region}.yaml`)], { MERIDIAN_LOG_LEVEL: 'warn' });
  }
  await call(ctl.url, 'PUT', '/v1/upstreams/v1', { body: { nodes: [{ host: '127.0.0.1', port }] } });
  await call(ctl.url, 'PUT', '/v1/upstreams/v2', { body: { nodes: [{ host: '127.0.0.1', port: (failing.address() as AddressInfo).port }] } });
  for (const r of ['shop', 'cart']) await call(ctl.url, 'PUT', `/v1/routes/${r}`, { body: { paths: [`/${r}`], upstream_id: 'v1' } });
  await call(ctl.url, 'PUT', '/v1/upstreams/api', { body: { discovery: { type: 'consul', service: 'api' } } });
  await consul.register({ id: 'api-1', name: 'api', address: '127.0.0.1', port, check: { http: `http://127.0.0.1:${port}/health`, interval: '1s', timeout: '1s' } });
  if (!existsSync(CHROMIUM)) return;
  context = await launchConsoleBrowser();
  context.on('console', (m) => { if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) pageErrors.push(m.text()); });
  context.on('weberror', (e) => pageErrors.push(e.error().message));
  // Both regions in sync and both nodes seen up by both probers; the DNS server loaded its state.
  await eventually(async () => {
    const st = (await call<ControllerStatus>(ctl.url, 'GET', '/v1/status')).body;
    return st.regions.length === 2 && st.regions.every((r) => r.nodes[0]?.state === 'in_sync' && r.nodes[0].probe?.up === true && r.nodes[0].probe.by.length === 2);
  }, 60_000, 200);
  await eventually(async () => (await fetch(dns.healthz).catch(() => undefined))?.status === 200, 30_000, 200);
}, 120_000);
afterAll(async () => {
  await context?.close();
  for (const child of [...Object.values(gateways).map((g) => g.child), ...probers, dns?.child]) if (child && child.exitCode === null) child.kill('SIGKILL');
  await ctl?.stop();
  backend?.close();
  failing?.close();
});

const go = async (page: Page, link: string): Promise<void> => {
  await page.getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: link }).waitFor();
};
const deployment = (id: string) => call<Deployment>(ctl.url, 'GET', `/v1/deployments/${id}`).then((r) => r.body);

describe.skipIf(!existsSync(CHROMIUM))('the console, two regions: virtual domains, deployments, operations, a node down', () => {
  it('allocates a virtual domain, binds a domain, shows the CNAME to publish and the DNS server\'s answer for a client in each region', async () => {
    const page = await signIn(context, ctl.url, TOKENS.admin);
    await go(page, 'Virtual domains');
    await page.getByLabel('Policy').selectOption('nearest');
    await page.getByLabel('Description').fill('shop front');
    await page.getByRole('button', { name: 'Allocate' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/^allocated [0-9a-f-]{36}\./);
    const vd = (await call<{ items: Array<{ id: string; value: { name: string } }> }>(ctl.url, 'GET', '/v1/vdomains')).body.items[0];
    expect(vd).toBeDefined();
    const row = page.locator(`tr[data-vdomain="${vd?.id}"]`);
    await expect.poll(() => row.textContent()).toContain('nearest');
    // What `meridian dns` answers a resolver in east's subnet: east's node; in west's: west's.
    const preview = row.getByTestId('preview');
    await expect.poll(() => preview.getByTestId('records').textContent(), { timeout: 15_000 }).toBe(`A ${gateways.east.host}`);
    expect(await preview.getAttribute('data-server')).toBe(dns.server);
    expect(await preview.getByTestId('answered-by').textContent()).toMatch(new RegExp(`^answered by ${dns.server} \\(udp, ECS ${CIDR.east}, scope /16, \\d+ ms\\)$`));
    expect(await preview.textContent()).toContain('TTL 5 s');

    await page.getByLabel('Domain', { exact: true }).fill('api.shop.test');
    await page.getByRole('button', { name: 'Bind' }).click();
    await expect.poll(() => page.getByTestId('cname').textContent()).toContain(`api.shop.test. 300 IN CNAME ${vd?.value.name}.`);
    expect(await page.getByTestId('cname').textContent()).toContain('outside the zones Meridian DNS serves');
    await expect.poll(() => row.textContent()).toContain('api.shop.test');
    expect((await call(ctl.url, 'GET', '/v1/bindings/api.shop.test')).body).toMatchObject({ vdomain: vd?.id });

    await page.getByLabel('Client region').selectOption('west');
    await expect.poll(() => preview.getByTestId('records').textContent()).toBe(`A ${gateways.west.host}`);
    expect(await preview.getByTestId('answered-by').textContent()).toContain(`ECS ${CIDR.west}`);
    await page.screenshot({ path: join(SHOTS, 'vdomains.png'), fullPage: true });
    await page.close();
  }, 45_000);

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
    // Traffic through both regions' gateways: v2, the canary side, answers 500. The page shows
    // each side's live figures from the gateways' metrics, the canary's 5xx share the higher.
    let sending = true;
    const load = (async () => {
      for (let i = 0; sending; i++) {
        const g = gateways[REGIONS[i % 2] as RegionName];
        await fetch(`http://${g.host}:${g.http}/shop`).then((r) => r.arrayBuffer()).catch(() => undefined);
      }
    })();
    try {
      const live = row('canary').getByTestId('live');
      await expect.poll(() => live.locator('[data-side="to"]').textContent(), { timeout: 20_000 }).toMatch(/^v2 50%: \d+\.\d req\/s, 100\.0% 5xx$/);
      expect(await live.locator('[data-side="from"]').textContent()).toMatch(/^v1 50%: \d+\.\d req\/s, 0\.0% 5xx$/);
      expect(await live.locator('[data-side="to"]').getAttribute('class')).toBe('error');
      expect(await live.textContent()).toMatch(/last \d+ s, 2\/2 node\(s\)/);
      const api = (await call<DeploymentLive>(ctl.url, 'GET', '/v1/deployments/canary/live')).body;
      expect(api.sides.map((x) => [x.name, x.weight])).toEqual([['v1', 50], ['v2', 50]]);
      expect(api.sides[1].error_rate).toBeGreaterThan(api.sides[0].error_rate ?? 1);
      await page.screenshot({ path: join(SHOTS, 'deployments.png'), fullPage: true });
    } finally {
      sending = false;
      await load;
    }
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
  }, 60_000);

  it('drains an instance showing each gateway node\'s ack (both regions) as it arrives, undrains it; the audit log names who changed what', async () => {
    await eventually(async () => (await consul.client.healthService('api', { dc: 'east' })).value.some((i) => i.id === 'api-1' && i.status === 'passing'), 15_000);
    const page = await signIn(context, ctl.url, TOKENS.admin);
    await go(page, 'Operations');
    await page.getByLabel('Service', { exact: true }).fill('api');
    await page.getByLabel('Instance', { exact: true }).fill('api-1');
    await page.getByLabel('Datacenter', { exact: true }).fill('east');
    await page.getByRole('button', { name: 'Drain', exact: true }).click();
    await expect.poll(() => page.getByRole('status').textContent(), { timeout: 15_000 }).toBe('drained api-1: 2 gateway node(s) acked');
    const progress = page.getByTestId('progress');
    expect(await progress.locator('li[data-stage="deregistered"]').textContent()).toContain('deregistered api/api-1 from Consul east (registration recorded for undrain)');
    expect(await progress.locator('li[data-stage="catalog"]').textContent()).toContain("Consul's catalog no longer lists api-1");
    // One line per node as its ack arrives ("<ms since the start> ms <region>/c1/gw1: acked in <ms> ms").
    const acks = async () => (await progress.locator('li[data-stage="ack"]').allTextContents()).map((t) => /^\d+ ms (\w+)\/c1\/gw1: acked in \d+ ms$/.exec(t)?.[1] ?? t).sort();
    expect(await acks()).toEqual(['east', 'west']);
    expect((await consul.client.healthService('api', { dc: 'east' })).value.some((i) => i.id === 'api-1')).toBe(false);
    await page.screenshot({ path: join(SHOTS, 'operations-drain.png'), fullPage: true });

    await page.getByRole('button', { name: 'Undrain' }).click();
    await expect.poll(() => page.getByRole('status').textContent(), { timeout: 15_000 }).toBe('undrained api-1: 2 gateway node(s) acked');
    expect(await progress.locator('li[data-stage="registered"]').textContent()).toContain('registered api/api-1 again in Consul east');
    expect(await acks()).toEqual(['east', 'west']);
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

  it('a gateway killed in west shows as down on the overview within the probers\' detection time; a client in west then gets east', async () => {
    const page = await signIn(context, ctl.url, TOKENS.read);
    const node = (region: RegionName) => page.locator(`[data-region="${region}"] tr[data-node="c1/gw1"]`);
    for (const r of REGIONS) await expect.poll(() => node(r).getAttribute('data-state'), { timeout: 10_000 }).toBe('in_sync');
    const killed = performance.now();
    gateways.west.child.kill('SIGKILL');
    // Detection: the probers' observation in central etcd (what /v1/status reads) says down.
    let detected = 0;
    const seen = eventually(async () => {
      const n = (await call<ControllerStatus>(ctl.url, 'GET', '/v1/status')).body.regions.find((r) => r.region === 'west')?.nodes[0];
      if (n?.probe?.up !== false) return false;
      detected = performance.now() - killed;
      return true;
    }, 20_000, 20);
    await expect.poll(() => node('west').getAttribute('data-state'), { timeout: 20_000, interval: 50 }).toBe('down');
    const shown = performance.now() - killed;
    await seen;
    console.log(`[console] west/c1/gw1 killed: probers (interval 200 ms, timeout 150 ms, fall 2) saw it down after ${Math.round(detected)} ms; the overview (polled every 2 s) showed DOWN after ${Math.round(shown)} ms`);
    // At most one poll of the page after the probers' verdict (plus the time to render it).
    expect(shown - detected).toBeLessThan(2_000 + 1_000);
    expect(await node('west').locator('.badge').textContent()).toBe('DOWN');
    expect(await node('west').textContent()).toMatch(/down since .*\(2\/2 probers\)/);
    expect(await page.locator('[data-region="west"]').getAttribute('data-state')).toBe('degraded');
    expect(await node('east').getAttribute('data-state')).toBe('in_sync');
    await page.screenshot({ path: join(SHOTS, 'overview-two-regions-node-down.png'), fullPage: true });

    // `meridian dns` counts the node down by the same probers: west's clients go to east.
    await go(page, 'Virtual domains');
    await page.getByLabel('Client region').selectOption('west');
    await expect.poll(() => page.getByTestId('records').first().textContent(), { timeout: 10_000 }).toBe(`A ${gateways.east.host}`);
    await page.close();
  }, 60_000);
});
