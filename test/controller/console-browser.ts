import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../src/core/servers/binaries.js';

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
