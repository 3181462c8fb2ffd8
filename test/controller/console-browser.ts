import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { stringify } from 'yaml';
import { PROJECT_ROOT } from '../../src/core/servers/binaries.js';
import { sha256Hex } from '../../controller/api/auth.js';
import { spawnMeridian } from '../harness/cli.js';
import { GATEWAY_TOKEN } from './helpers.js';

// What the console's browser tests share: Debian's chromium (scripts/setup-servers.sh installs
// it as root) driven by playwright-core, kept off the network, and the sign-in form.
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Screenshots land in docs/console/ only when asked (MERIDIAN_SCREENSHOTS=1): they hold times,
 * ports and host names, so every run would otherwise change committed files.
 */
export function screenshotDir(): string {
  const dir = process.env.MERIDIAN_SCREENSHOTS === '1' ? join(PROJECT_ROOT, 'docs', 'console') : mkdtempSync(join(tmpdir(), 'meridian-console-shots-'));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Headless chromium with a fresh profile and the flags that keep it off the network. */
export function launchConsoleBrowser(viewport = { width: 1280, height: 800 }): Promise<BrowserContext> {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'meridian-chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A new tab signed in to the console at `base` with `token`. */
export async function signIn(context: BrowserContext, base: string, token: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${base}/ui/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return page;
}

/**
 * `meridian gateway` `name` (default gw1) of cluster c1 in `region`, on its own loopback `host`
 * (what the region's definition and so DNS hand out), one worker, config from the region's
 * `etcd`, registered with a 2 s lease; its config file written in `dir`. For the two-region tests.
 */
export function spawnRegionNode(opts: { dir: string; region: string; host: string; etcd: string; http: number; admin: number; name?: string }): ReturnType<typeof spawnMeridian> {
  const name = opts.name ?? 'gw1';
  const file = join(opts.dir, `${opts.region}-${name}.yaml`);
  writeFileSync(file, stringify({
    node: { name, cluster: 'c1', region: opts.region }, listen: { http: `${opts.host}:${opts.http}` }, workers: 1,
    admin: { listen: `${opts.host}:${opts.admin}`, token_hash: sha256Hex(GATEWAY_TOKEN) },
    config: { etcd: { endpoints: [opts.etcd] }, snapshot_file: join(opts.dir, `${opts.region}-${name}.snapshot.json`) },
    registration: { ttl_s: 2 },
  }));
  return spawnMeridian(['gateway', '-c', file], { MERIDIAN_LOG_LEVEL: 'warn' });
}

/** gw1 of cluster c1 in region east on 127.0.0.1: the node console.test.ts watches. */
export function spawnEastGateway(opts: { dir: string; etcd: string; http: number; admin: number }): ReturnType<typeof spawnMeridian> {
  return spawnRegionNode({ region: 'east', host: '127.0.0.1', ...opts });
}
