import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinRegistry } from '../../src/plugins/index.js';
import { hashPassword } from '../../src/plugins/basic-auth.js';
import { isMeridianError } from '../../src/core/errors/index.js';
import { eventually, useServers } from '../harness/index.js';
import { echoUpstream } from './helpers/upstream.js';
import { startPluginGateway, type PluginGateway } from './helpers/meridian-gateway.js';

/**
 * Issue 16, items 8 and 11, tried as an attacker would against `meridian gateway` (standalone
 * route file, one worker, real Redis): an HMAC signature replayed with a fresh nonce, a
 * signature moved to another path, and password guessing against basic-auth (user names told
 * apart by the work a refusal costs; the worker starved by scrypt).
 */
const SECRET = 'carol-shared-secret-0123456789';
const DAN_SECRET = 'dan-shared-secret-0123456789';
const REDIS_SLOW_OK = { command_timeout_ms: 10_000 }; // a loaded CI machine is not a Redis outage

describe('auth plugins under attack, in meridian gateway', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-auth-attacks-'));
  let upstream: Awaited<ReturnType<typeof echoUpstream>>;
  let gw: PluginGateway | undefined;
  let url = '';
  let admin = '';
  let revision = 0;
  let aliceHash = '';

  /** The route file; `extra` routes are added to it (the config-time refusal). */
  function writeRoutes(extra: unknown[] = []): void {
    const up = { nodes: [{ host: '127.0.0.1', port: Number(new URL(upstream.url).port) }] };
    writeFileSync(join(dir, 'routes.yaml'), JSON.stringify({
      revision: ++revision,
      consumers: [
        { username: 'carol', plugins: { 'hmac-auth': { username: 'carol-key', secret: SECRET } } },
        // anti-replay joins from the consumer's plugins: only a request-time check can see it.
        { username: 'dan', plugins: { 'hmac-auth': { username: 'dan-key', secret: DAN_SECRET }, 'anti-replay': { window_s: 300, redis: REDIS_SLOW_OK } } },
        { username: 'alice', plugins: { 'basic-auth': { username: 'alice', password_hash: aliceHash } } },
      ],
      routes: [
        { id: 'signed', paths: ['/a', '/b', '/signed'], upstream: up, plugins: { 'hmac-auth': {} } },
        // The plugins README's anti-replay example, as written there.
        { id: 'readme', paths: ['/orders'], upstream: up, plugins: { 'hmac-auth': { enforce_headers: ['request-line', 'date', 'x-nonce', 'x-timestamp'] }, 'anti-replay': { window_s: 120, redis: REDIS_SLOW_OK } } },
        { id: 'basic', paths: ['/basic'], upstream: up, plugins: { 'basic-auth': {} } },
        { id: 'other', paths: ['/other'], upstream: up },
        ...extra,
      ],
    }));
  }

  async function metric(name: string, labels: string): Promise<number> {
    const text = await (await fetch(`${admin}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  }

  async function status(): Promise<{ config: { revision: number; last_rejection?: { reason: string } } }> {
    return (await (await fetch(`${admin}/status`)).json()) as { config: { revision: number; last_rejection?: { reason: string } } };
  }

  beforeAll(async () => {
    const servers = await useServers();
    const redis = await servers.redis();
    upstream = await echoUpstream();
    aliceHash = await hashPassword('wonderland'); // the documented cost: scrypt N=16384, r=8, p=1
    writeRoutes();
    gw = await startPluginGateway({ dir, name: 'gw-auth-attacks', redisUrl: redis.url, ready: async (u) => (await fetch(`${u}/other`)).status === 200 });
    url = gw.url;
    admin = gw.admin;
  }, 90_000);

  afterAll(async () => {
    await gw?.stop();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function call(path: string, headers: Record<string, string>): Promise<{ status: number; code: string | undefined; headers: Headers }> {
    const r = await fetch(`${url}${path}`, { headers });
    const text = await r.text();
    const code = r.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as { code?: string }).code : undefined;
    return { status: r.status, code, headers: r.headers };
  }

  /** Kong's scheme: one `name: value` line per signed header, `request-line` = `GET /path HTTP/1.1`. */
  function sign(secret: string, user: string, names: string[], values: Record<string, string>, requestLine: string): Record<string, string> {
    const toSign = names.map((n) => (n === 'request-line' ? requestLine : `${n}: ${values[n]}`)).join('\n');
    const signature = createHmac('sha256', secret).update(toSign).digest('base64');
    return { ...values, authorization: `hmac username="${user}", algorithm="hmac-sha256", headers="${names.join(' ')}", signature="${signature}"` };
  }
  const fresh = (): Record<string, string> => ({ 'x-date': new Date().toUTCString(), 'x-nonce': randomUUID(), 'x-timestamp': String(Math.floor(Date.now() / 1000)) });

  describe('hmac-auth with anti-replay (item 8)', () => {
    it('a captured signature does not replay with a fresh nonce (anti-replay from the consumer)', async () => {
      // The victim's request signs the date and the request line, not the nonce.
      const victim = sign(DAN_SECRET, 'dan-key', ['x-date', 'request-line'], fresh(), 'GET /signed HTTP/1.1');
      const first = await call('/signed', victim);
      expect(first).toMatchObject({ status: 401, code: 'MERIDIAN_ERR_PLUGIN_REPLAY_UNSIGNED' });
      // The attacker keeps the signature and sends it with a nonce never used.
      const replay = await call('/signed', { ...victim, 'x-nonce': randomUUID() });
      expect(replay).toMatchObject({ status: 401, code: 'MERIDIAN_ERR_PLUGIN_REPLAY_UNSIGNED' });

      // Signed as required: accepted once; neither a fresh nonce nor the same one replays it.
      const good = sign(DAN_SECRET, 'dan-key', ['x-date', 'x-nonce', 'x-timestamp', 'request-line'], fresh(), 'GET /signed HTTP/1.1');
      expect((await call('/signed', good)).status, gw?.output()).toBe(200);
      expect(await call('/signed', good)).toMatchObject({ status: 401, code: 'MERIDIAN_ERR_PLUGIN_REPLAYED' });
      expect(await call('/signed', { ...good, 'x-nonce': randomUUID() })).toMatchObject({ status: 401, code: 'MERIDIAN_ERR_PLUGIN_UNAUTHORIZED' });
    });

    it('a signature for GET /a does not work for GET /b, and one that leaves out the request line is refused', async () => {
      const forA = sign(SECRET, 'carol-key', ['x-date', 'request-line'], { 'x-date': new Date().toUTCString() }, 'GET /a HTTP/1.1');
      expect((await call('/a', forA)).status).toBe(200);
      expect(await call('/b', forA)).toMatchObject({ status: 401, code: 'MERIDIAN_ERR_PLUGIN_UNAUTHORIZED' });
      // A client may choose what it signs; by default the request line must be among it.
      const dateOnly = sign(SECRET, 'carol-key', ['x-date'], { 'x-date': new Date().toUTCString() }, '');
      expect((await call('/a', dateOnly)).status).toBe(401);
      expect((await call('/b', dateOnly)).status).toBe(401);
    });

    it('the README example works as the README says to sign it', async () => {
      // src/plugins/README.md, anti-replay: the signing string, in the order of `headers`.
      const date = new Date().toUTCString();
      const nonce = randomUUID();
      const ts = String(Math.floor(Date.now() / 1000));
      const toSign = `x-date: ${date}\nx-nonce: ${nonce}\nx-timestamp: ${ts}\nGET /orders HTTP/1.1`;
      const signature = createHmac('sha256', SECRET).update(toSign).digest('base64');
      const headers = { 'x-date': date, 'x-nonce': nonce, 'x-timestamp': ts, authorization: `hmac username="carol-key", algorithm="hmac-sha256", headers="x-date x-nonce x-timestamp request-line", signature="${signature}"` };
      expect((await call('/orders', headers)).status, gw?.output()).toBe(200);
      expect(await call('/orders', headers)).toMatchObject({ status: 401, code: 'MERIDIAN_ERR_PLUGIN_REPLAYED' });
      expect(await call('/orders', { ...headers, 'x-nonce': randomUUID() })).toMatchObject({ status: 401, code: 'MERIDIAN_ERR_PLUGIN_UNAUTHORIZED' });
    });

    it('refuses at config time anti-replay beside hmac-auth whose signed headers miss the nonce', async () => {
      const registry = builtinRegistry();
      let thrown: unknown;
      try {
        registry.compile({ global: [{ 'hmac-auth': {} }], route: { 'anti-replay': {} } }, 'route r');
      } catch (err) {
        thrown = err;
      }
      expect(isMeridianError(thrown, 'MERIDIAN_ERR_PLUGIN_REPLAY_HEADER_NOT_SIGNED'), String(thrown)).toBe(true);
      expect((thrown as Error).message).toContain('"x-nonce"');

      // The README's former example, sent to the running gateway: refused whole, the last good config kept.
      const served = (await status()).config.revision;
      writeRoutes([{ id: 'replayable', paths: ['/replayable'], upstream: { nodes: [{ host: '127.0.0.1', port: 9 }] }, plugins: { 'hmac-auth': {}, 'anti-replay': { window_s: 120 } } }]);
      const rejection = await eventually(async () => (await status()).config.last_rejection?.reason, 20_000, 100);
      expect(rejection).toContain('plugin anti-replay at route replayable');
      expect(rejection).toContain('add "x-nonce" to hmac-auth enforce_headers');
      expect((await status()).config.revision).toBe(served);
      expect((await fetch(`${url}/replayable`)).status).toBe(404);
    });
  });

  describe('basic-auth under password guessing (item 11)', () => {
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    const HASHES = ['meridian_plugin_password_hashes_total', 'params="16384/8/1"'] as const;

    it('an unknown user costs the same scrypt work as a known user with a wrong password', async () => {
      const h0 = await metric(...HASHES);
      expect((await call('/basic', basic('alice', 'not-her-password'))).status).toBe(401);
      const h1 = await metric(...HASHES);
      expect((await call('/basic', basic('nobody', 'not-her-password'))).status).toBe(401);
      const h2 = await metric(...HASHES);
      expect(h1 - h0).toBe(1);
      expect(h2 - h1).toBe(h1 - h0);
    });

    it('a verified pair is not hashed again on the next request', async () => {
      const h0 = await metric(...HASHES);
      const r = await fetch(`${url}/basic`, { headers: basic('alice', 'wonderland') });
      expect(r.status).toBe(200);
      expect(((await r.json()) as { headers: Record<string, string> }).headers['x-consumer-username']).toBe('alice');
      const h1 = await metric(...HASHES);
      for (let i = 0; i < 3; i++) expect((await call('/basic', basic('alice', 'wonderland'))).status).toBe(200);
      expect(h1 - h0).toBe(1);
      expect(await metric(...HASHES)).toBe(h1);
    });

    it('a burst of wrong guesses keeps at most 2 scrypt checks in flight, and another route still answers', async () => {
      const guesses = Array.from({ length: 30 }, (_, i) => call('/basic', basic(i % 2 ? 'alice' : `user-${i}`, `guess-${i}`)));
      const other = await fetch(`${url}/other`);
      expect(other.status).toBe(200);
      const answers = await Promise.all(guesses);
      for (const a of answers) {
        if (a.status === 429) {
          expect(a.code).toBe('MERIDIAN_ERR_PLUGIN_AUTH_BUSY');
          expect(a.headers.get('retry-after')).toBe('1');
        } else {
          expect(a).toMatchObject({ status: 401, code: 'MERIDIAN_ERR_PLUGIN_UNAUTHORIZED' });
        }
      }
      expect(answers.some((a) => a.status === 429)).toBe(true);
      expect(await metric('meridian_plugin_password_hashes_in_flight_peak', 'plugin="basic-auth"')).toBeLessThanOrEqual(2);
      // A client whose password was verified before is not held up by the guessing.
      expect((await call('/basic', basic('alice', 'wonderland'))).status).toBe(200);
    });

    it('a changed password hash invalidates the remembered pair', async () => {
      expect((await call('/basic', basic('alice', 'wonderland'))).status).toBe(200);
      aliceHash = await hashPassword('looking-glass');
      writeRoutes();
      await eventually(async () => (await call('/basic', basic('alice', 'looking-glass'))).status === 200, 20_000, 100);
      expect((await call('/basic', basic('alice', 'wonderland'))).status).toBe(401);
    });
  });
});
