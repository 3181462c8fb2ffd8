import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, useServers } from '../harness/index.js';
import type { spawnMeridian } from '../harness/cli.js';
import { PROJECT_ROOT } from '../../src/core/servers/binaries.js';
import type { Controller } from '../../controller/controller.js';
import type { ControllerStatus } from '../../controller/status.js';
import { call, startController, TOKENS } from './helpers.js';
import { CHROMIUM, launchConsoleBrowser, screenshotDir, signIn, spawnRegionNode } from './console-browser.js';

// The console's resource pages (routes, upstreams, consumers, ssl, global rules) in headless
// chromium against a real controller, a central etcd and one etcd per region, and a real
// `meridian gateway` in each of regions east and west: forms generated from the API's schemas,
// the diff before saving, the API's 400 at its field, references before a delete, the YAML view.
const SHOTS = screenshotDir();
const servers = await useServers();
const dir = mkdtempSync(join(tmpdir(), 'meridian-console-resources-'));
const REGIONS = ['east', 'west'] as const;
let ctl: Controller;
let backend: Server;
let backendPort: number;
let context: BrowserContext;
const gateways: Array<ReturnType<typeof spawnMeridian>> = [];
/** Each region's gateway listener. */
const listeners: Record<string, number> = {};
const pageErrors: string[] = [];

beforeAll(async () => {
  execFileSync(process.execPath, [join(PROJECT_ROOT, 'scripts', 'prepare.mjs'), 'console'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  const [central, ...regional] = await Promise.all([servers.etcd(), servers.etcd(), servers.etcd()]);
  ctl = await startController(central.endpoint);
  backend = createServer((req, res) => res.end(`backend saw ${req.url}`));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  backendPort = (backend.address() as AddressInfo).port;
  for (const [i, region] of REGIONS.entries()) {
    const etcd = (regional[i] as { endpoint: string }).endpoint;
    const [http, admin] = [await freePort(), await freePort()];
    listeners[region] = http;
    const put = await call(ctl.url, 'PUT', `/v1/regions/${region}`, { body: { etcd: { endpoints: [etcd] }, clusters: [{ name: 'c1', nodes: [{ name: 'gw1', address: '127.0.0.1', port: http, admin: `http://127.0.0.1:${admin}` }] }] } });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    gateways.push(spawnRegionNode({ region, host: '127.0.0.1', dir, etcd, http, admin }));
  }
  // A route the gateways serve from the start (a gateway wants one), and a consumer with a secret.
  await call(ctl.url, 'PUT', '/v1/upstreams/base', { body: { nodes: [{ host: '127.0.0.1', port: backendPort }] } });
  await call(ctl.url, 'PUT', '/v1/routes/base', { body: { paths: ['/base'], upstream_id: 'base' } });
  await call(ctl.url, 'PUT', '/v1/consumers/alice', { body: { plugins: { 'key-auth': { key: 'alice-secret-key' } } } });
  const pem = selfSigned('shop.example.test');
  await call(ctl.url, 'PUT', '/v1/ssl/shop', { body: { snis: ['shop.example.test'], cert: pem.cert, key: pem.key } });
  await call(ctl.url, 'PUT', '/v1/global_rules/metrics', { body: { plugins: { prometheus: {} } } });
  await eventually(async () => (await call<ControllerStatus>(ctl.url, 'GET', '/v1/status')).body.regions.every((r) => r.nodes[0]?.state === 'in_sync'), 60_000, 200);
  if (!existsSync(CHROMIUM)) return;
  context = await launchConsoleBrowser({ width: 1280, height: 1000 });
  // 400 and 409 answers are what some steps provoke on purpose.
  context.on('console', (m) => { if (m.type() === 'error' && !/status of 40[0139]/.test(m.text())) pageErrors.push(m.text()); });
  context.on('weberror', (e) => pageErrors.push(e.error().message));
}, 90_000);
afterAll(async () => {
  await context?.close();
  for (const g of gateways) if (g.exitCode === null) g.kill('SIGKILL');
  await ctl?.stop();
  backend?.close();
});

/** A throwaway self-signed certificate and key (PEM). */
function selfSigned(cn: string): { cert: string; key: string } {
  const [key, cert] = [join(dir, `${cn}.key`), join(dir, `${cn}.crt`)];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

const go = async (page: Page, link: string): Promise<void> => {
  await page.getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: link }).waitFor();
};
/** The control of the form field the API's messages call `path` (`nodes[0].port`). */
const field = (page: Page, path: string) => page.locator(`[data-field="${path}"] > :is(input, select, textarea)`).first();
const fieldError = (page: Page, path: string) => page.locator(`[data-field="${path}"] > .field-error`);
const stored = <T = Record<string, unknown>>(kind: string, id: string) => call<T>(ctl.url, 'GET', `/v1/${kind}/${id}`).then((r) => r.body);
const yamlBox = (page: Page, label: string) => page.getByLabel(`${label} as YAML`);

describe.skipIf(!existsSync(CHROMIUM))('the console: resources', () => {
  it('an admin creates an upstream and a route through the forms (diff first, 400s at their field); both regions turn in sync and serve it', async () => {
    const page = await signIn(context, ctl.url, TOKENS.admin);
    await go(page, 'Upstreams');
    await page.getByRole('button', { name: 'New upstream' }).click();
    await page.getByRole('heading', { level: 1, name: 'New upstream' }).waitFor();
    // The form comes from the schema: enums are selects with their default, help text shown.
    expect(await page.locator('[data-field="type"] option').allTextContents()).toEqual(['(default: roundrobin)', 'roundrobin', 'least_conn', 'ewma', 'chash']);
    expect(await page.locator('[data-field="retries"] .help').textContent()).toContain('retries to another node');
    await field(page, 'id').fill('shop-backend');
    await page.getByRole('button', { name: 'Add to nodes' }).click();
    await field(page, 'nodes[0].host').fill('127.0.0.1');
    await field(page, 'nodes[0].port').fill('70000');
    await page.getByRole('button', { name: 'Review changes' }).click();
    expect(await page.getByTestId('diff').textContent()).toContain('+ id: shop-backend');
    await page.getByRole('button', { name: 'Save' }).click();
    // The API's 400 names nodes[0].port: the message is shown at that input, not only at the top.
    await expect.poll(() => fieldError(page, 'nodes[0].port').textContent()).toBe('invalid upstream: nodes[0].port: must be <= 65535, got 70000');
    expect(await page.locator('.field-error').count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'upstream-form-error.png'), fullPage: true });
    expect((await call(ctl.url, 'GET', '/v1/upstreams/shop-backend')).status).toBe(404);

    await field(page, 'nodes[0].port').fill(String(backendPort));
    await field(page, 'type').selectOption('least_conn');
    await page.getByRole('button', { name: 'Review changes' }).click();
    const diff = (await page.getByTestId('diff').textContent()) ?? '';
    for (const line of ['+ id: shop-backend', '+ type: least_conn', '+   - host: 127.0.0.1', `+     port: ${backendPort}`]) expect(diff).toContain(line);
    expect(diff).not.toMatch(/^- /m);
    await page.screenshot({ path: join(SHOTS, 'upstream-form.png'), fullPage: true });
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Upstream shop-backend created.');
    expect(page.url()).toBe(`${ctl.url}/ui/upstreams/shop-backend`);
    expect(await stored('upstreams', 'shop-backend')).toMatchObject({ id: 'shop-backend', type: 'least_conn', nodes: [{ host: '127.0.0.1', port: backendPort, weight: 1 }] });

    await go(page, 'Routes');
    await page.getByRole('button', { name: 'New route' }).click();
    await field(page, 'id').fill('shop-new');
    await page.getByRole('button', { name: 'Add to paths' }).click();
    await field(page, 'paths[0]').fill('/shop-new');
    await page.getByRole('button', { name: 'Add to methods' }).click();
    await field(page, 'methods[0]').selectOption('GET');
    // A reference to an upstream that does not exist: the API's 400 is shown at upstream_id.
    await field(page, 'upstream_id').fill('shop-backnd');
    await page.getByRole('button', { name: 'Review changes' }).click();
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => fieldError(page, 'upstream_id').textContent()).toContain('upstream_id refers to upstream shop-backnd, which does not exist');
    await field(page, 'upstream_id').fill('shop-backend');
    await page.getByRole('button', { name: 'Review changes' }).click();
    expect(await page.getByTestId('diff').textContent()).toContain('+ upstream_id: shop-backend');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Route shop-new created.');
    const revision = Number((await call(ctl.url, 'GET', '/v1/routes/shop-new')).headers.get('etag')?.replace(/"/g, ''));
    expect(revision).toBeGreaterThan(0);

    // The overview: both regions' nodes in sync at (at least) the route's revision.
    await go(page, 'Overview');
    for (const region of REGIONS) {
      const node = page.locator(`[data-region="${region}"] tr[data-node="c1/gw1"]`);
      await expect.poll(async () => (await node.getAttribute('data-state')) === 'in_sync' && Number(await node.locator('td').nth(4).textContent()) >= revision, { timeout: 20_000 }).toBe(true);
      expect(await page.locator(`[data-region="${region}"]`).getAttribute('data-state')).toBe('in_sync');
    }
    await page.screenshot({ path: join(SHOTS, 'overview-two-regions.png'), fullPage: true });
    // And a request through each region's gateway reaches the new upstream.
    for (const region of REGIONS) {
      const res = await fetch(`http://127.0.0.1:${listeners[region]}/shop-new`);
      expect([res.status, await res.text()], region).toEqual([200, 'backend saw /shop-new']);
    }
    await page.close();
  }, 120_000);

  it('lists search and filter; deleting the upstream warns that the route refers to it', async () => {
    const page = await signIn(context, ctl.url, TOKENS.admin);
    await go(page, 'Routes');
    await expect.poll(() => page.getByTestId('routes-count').textContent()).toBe('2 of 2 routes');
    await page.getByLabel('Upstream filter').selectOption('shop-backend');
    await expect.poll(() => page.getByTestId('routes-count').textContent()).toBe('1 of 2 routes');
    await page.getByLabel('Upstream filter').selectOption('');
    await page.getByLabel('Method filter').selectOption('(any)');
    expect(await page.getByTestId('routes-count').textContent()).toBe('1 of 2 routes');
    await page.getByLabel('Method filter').selectOption('');
    await page.getByLabel('Filter routes').fill('shop');
    await expect.poll(() => page.getByTestId('routes-count').textContent()).toBe('1 of 2 routes');

    await go(page, 'Upstreams');
    await expect.poll(() => page.getByTestId('upstreams-count').textContent()).toBe('2 of 2 upstreams');
    await page.getByLabel('Balancer filter').selectOption('least_conn');
    await expect.poll(() => page.getByTestId('upstreams-count').textContent()).toBe('1 of 2 upstreams');
    await page.screenshot({ path: join(SHOTS, 'upstreams.png') });
    await page.getByRole('link', { name: /^shop-backend/ }).click();
    await page.getByTestId('upstream-source').waitFor();
    await page.getByRole('button', { name: 'Delete' }).click();
    const warning = page.getByTestId('delete-warning');
    await expect.poll(() => warning.textContent()).toContain('routes/shop-new');
    expect(await warning.textContent()).toContain('referenced by 1 resource(s)');
    expect(await page.getByRole('button', { name: 'Confirm delete' }).count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'upstream-delete-referenced.png') });
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect((await call(ctl.url, 'GET', '/v1/upstreams/shop-backend')).status).toBe(200);

    // Nothing refers to a spare upstream: the delete is offered, and done.
    await call(ctl.url, 'PUT', '/v1/upstreams/spare', { body: { nodes: [{ host: '127.0.0.1', port: 1 }] } });
    await page.goto(`${ctl.url}/ui/upstreams/spare`);
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Confirm delete' }).click();
    await page.getByTestId('upstreams-count').waitFor();
    expect((await call(ctl.url, 'GET', '/v1/upstreams/spare')).status).toBe(404);
    await page.close();
  }, 60_000);

  it('the YAML view round-trips with the form, and the diff shows exactly the change', async () => {
    const page = await signIn(context, ctl.url, TOKENS.admin);
    await page.goto(`${ctl.url}/ui/routes/shop-new`);
    await page.getByTestId('route-source').waitFor();
    const before = await stored('routes', 'shop-new');
    expect(parse((await page.getByTestId('route-source').textContent()) ?? '')).toEqual(before);
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('button', { name: 'YAML' }).click();
    expect(parse(await yamlBox(page, 'Route').inputValue())).toEqual(before);
    const edited = { ...before, priority: 7, hosts: ['shop.example.test'], plugins: { 'request-id': {} } };
    await yamlBox(page, 'Route').fill(JSON.stringify(edited, null, 2)); // JSON is YAML too
    await page.getByRole('button', { name: 'Form' }).click();
    expect(await field(page, 'priority').inputValue()).toBe('7');
    expect(await field(page, 'hosts[0]').inputValue()).toBe('shop.example.test');
    expect(parse(await field(page, 'plugins').inputValue())).toEqual({ 'request-id': {} });
    await page.getByRole('button', { name: 'YAML' }).click();
    expect(parse(await yamlBox(page, 'Route').inputValue())).toEqual(edited);
    // Text that is not YAML is named, and review waits for it to parse.
    await yamlBox(page, 'Route').fill('paths: [/x');
    await expect.poll(() => page.locator('.field-error').textContent()).toMatch(/^YAML: /);
    expect(await page.getByRole('button', { name: 'Review changes' }).isDisabled()).toBe(true);
    await yamlBox(page, 'Route').fill(JSON.stringify(edited, null, 2));
    await page.getByRole('button', { name: 'Review changes' }).click();
    const diff = (await page.getByTestId('diff').textContent()) ?? '';
    expect(diff).toContain('- priority: 0');
    expect(diff).toContain('+ priority: 7');
    expect(diff).toContain('+ hosts:');
    expect(diff).not.toMatch(/^[-+] (id|upstream_id|paths):/m);
    // Changed by someone else meanwhile: the save answers 409, the console reads the route
    // again, and the next review shows the edit against what is stored now.
    expect((await call(ctl.url, 'PUT', '/v1/routes/shop-new', { body: { ...before, name: 'concurrent' } })).status).toBe(200);
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/^route shop-new was changed: If-Match \d+, current revision \d+\. Read again/);
    await page.getByRole('button', { name: 'Review changes' }).click();
    expect(await page.locator('[data-testid="diff"] > div').allTextContents()).toContain('- name: concurrent');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Route shop-new updated.');
    expect(await stored('routes', 'shop-new')).toEqual(edited);
    await page.close();
  }, 60_000);

  it('a write token edits a consumer whose secret it only sees redacted: the stored secret is kept', async () => {
    const hashBefore = (await stored<{ plugins: Record<string, { key_hash?: string }> }>('consumers', 'alice')).plugins['key-auth']?.key_hash;
    expect(hashBefore).toMatch(/^sha256:/);
    const page = await signIn(context, ctl.url, TOKENS.write);
    await go(page, 'Consumers');
    await page.getByLabel('Plugin filter').selectOption('key-auth');
    await expect.poll(() => page.getByTestId('consumers-count').textContent()).toBe('1 of 1 consumers');
    await page.screenshot({ path: join(SHOTS, 'consumers.png') });
    await page.getByRole('link', { name: /^alice/ }).click();
    await page.getByTestId('consumer-source').waitFor();
    expect(await page.getByTestId('consumer-source').textContent()).toContain('<redacted: admin only>');
    await page.getByRole('button', { name: 'Edit' }).click();
    expect(await field(page, 'username').isDisabled()).toBe(true);
    await field(page, 'labels').fill('team: shop');
    await page.getByRole('button', { name: 'Review changes' }).click();
    const diff = (await page.getByTestId('diff').textContent()) ?? '';
    expect(diff).toContain('+ labels:');
    expect(diff).not.toMatch(/^[-+].*redacted/m);
    await page.screenshot({ path: join(SHOTS, 'consumer-form.png'), fullPage: true });
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Consumer alice updated.');
    const after = await stored<{ labels: Record<string, string>; plugins: Record<string, { key_hash?: string }> }>('consumers', 'alice');
    expect(after.labels).toEqual({ team: 'shop' });
    expect(after.plugins['key-auth']?.key_hash).toBe(hashBefore);
    // SSL and global rules need the admin role to write: a write token gets no edit control there.
    await go(page, 'Global rules');
    await page.getByTestId('global_rules-count').waitFor();
    expect(await page.locator('.edit-control').count()).toBe(0);
    await page.close();
  }, 60_000);

  it('an admin adds a server name to a certificate: the PEM fields keep their line breaks, the key is kept', async () => {
    const before = await stored<{ cert: string; key: string }>('ssl', 'shop');
    const page = await signIn(context, ctl.url, TOKENS.admin);
    await page.goto(`${ctl.url}/ui/ssl/shop`);
    await page.getByRole('button', { name: 'Edit' }).click();
    expect(await field(page, 'cert').inputValue()).toBe(before.cert);
    await page.getByRole('button', { name: 'Add to snis' }).click();
    await field(page, 'snis[1]').fill('www.shop.example.test');
    await page.getByRole('button', { name: 'Review changes' }).click();
    const diff = await page.locator('[data-testid="diff"] > div').allTextContents();
    expect(diff.filter((l) => /^[-+] /.test(l))).toEqual(['+   - www.shop.example.test']);
    await page.screenshot({ path: join(SHOTS, 'ssl-form.png'), fullPage: true });
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe('SSL certificate shop updated.');
    expect(await stored('ssl', 'shop')).toEqual({ ...before, snis: ['shop.example.test', 'www.shop.example.test'] });
    await page.close();
  }, 60_000);

  it('removing an array item leaves each remaining item its own fields, YAML boxes included', async () => {
    const page = await signIn(context, ctl.url, TOKENS.admin);
    await page.goto(`${ctl.url}/ui/upstreams/-/new`);
    for (const [i, zone] of ['a', 'b'].entries()) {
      await page.getByRole('button', { name: 'Add to nodes' }).click();
      await field(page, `nodes[${i}].host`).fill(`10.0.0.${i + 1}`);
      await field(page, `nodes[${i}].metadata`).fill(`zone: ${zone}`);
    }
    await page.getByRole('button', { name: 'Remove nodes[0]' }).click();
    expect(await field(page, 'nodes[0].host').inputValue()).toBe('10.0.0.2');
    expect(await field(page, 'nodes[0].metadata').inputValue()).toBe('zone: b\n');
    expect(await page.locator('[data-field="nodes[1]"]').count()).toBe(0);
    await page.getByRole('button', { name: 'YAML' }).click();
    expect(parse(await yamlBox(page, 'Upstream').inputValue())).toEqual({ nodes: [{ host: '10.0.0.2', metadata: { zone: 'b' } }] });
    await page.close();
  }, 60_000);

  it('a read token sees the resource pages and no edit control on any of them', async () => {
    const page = await signIn(context, ctl.url, TOKENS.read);
    const pages: Array<[string, string, string, string]> = [
      ['Routes', 'routes', 'shop-new', 'route'], ['Upstreams', 'upstreams', 'shop-backend', 'upstream'], ['Consumers', 'consumers', 'alice', 'consumer'],
      ['SSL', 'ssl', 'shop', 'ssl'], ['Global rules', 'global_rules', 'metrics', 'global_rule'],
    ];
    for (const [link, kind, id, one] of pages) {
      await go(page, link);
      await page.getByTestId(`${kind}-count`).waitFor();
      expect(await page.locator('.edit-control').count(), kind).toBe(0);
      if (kind === 'global_rules') await page.screenshot({ path: join(SHOTS, 'global-rules.png') });
      if (kind === 'ssl') await page.screenshot({ path: join(SHOTS, 'ssl.png') });
      if (!id) continue;
      await page.goto(`${ctl.url}/ui/${kind}/${id}`);
      await page.getByTestId(`${one}-source`).waitFor();
      expect(await page.locator('.edit-control').count(), `${kind}/${id}`).toBe(0);
      expect(await page.getByRole('button', { name: /^(Edit|Delete|New)/ }).count(), `${kind}/${id}`).toBe(0);
    }
    // The API refuses a read token anyway; the console just does not offer it.
    expect((await call(ctl.url, 'GET', '/v1/upstreams/shop-backend/references', { token: TOKENS.read })).body).toEqual({ kind: 'upstreams', id: 'shop-backend', by: ['routes/shop-new'] });
    expect((await call(ctl.url, 'GET', '/v1/upstreams/nothing/references', { token: TOKENS.read })).body.code).toBe('MERIDIAN_ERR_CONTROLLER_NOT_FOUND');
    await page.close();
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
