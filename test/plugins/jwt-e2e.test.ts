import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { freePort } from '../harness/index.js';
import { echoUpstream } from './helpers/upstream.js';
import { startPluginGateway, type PluginGateway } from './helpers/meridian-gateway.js';

/**
 * jwt-auth in the real gateway (`meridian gateway`, file config, one worker): tokens signed
 * here (jose, or node:crypto for the hostile ones jose refuses to make), JWKS served by a
 * node:http server on loopback that counts its fetches per path.
 */

const SECRET = 'dave-secret-0123456789-abcdefghijkl';
const AUD = 'meridian-api';
const ISS = 'https://idp.test';
const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 });
const k1 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const k2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
const jwk = (k: KeyObject, kid: string) => ({ ...k.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' });
const now = () => Math.floor(Date.now() / 1000);

/** What the JWKS server answers per path, and how often it was asked. */
interface JwksPath {
  keys: object[];
  mode: 'ok' | 'reset' | 'hang';
  fetches: number;
}
const paths: Record<string, JwksPath> = {
  a: { keys: [jwk(k1.publicKey, 'k1')], mode: 'ok', fetches: 0 },
  b: { keys: [jwk(k1.publicKey, 'k1')], mode: 'ok', fetches: 0 },
  c: { keys: [jwk(k1.publicKey, 'k1')], mode: 'ok', fetches: 0 },
  consumer: { keys: [jwk(k2.publicKey, 'g1')], mode: 'ok', fetches: 0 },
  hang: { keys: [], mode: 'hang', fetches: 0 },
};

const b64u = (x: object) => Buffer.from(JSON.stringify(x)).toString('base64url');
/** A compact JWS built by hand: for headers jose will not sign (none, unknown crit, confusion). */
function raw(header: object, payload: object, signer: (data: string) => Buffer): string {
  const data = `${b64u(header)}.${b64u(payload)}`;
  return `${data}.${signer(data).toString('base64url')}`;
}
const hs256 = (secret: string) => (d: string) => createHmac('sha256', secret).update(d).digest();
const rs256 = (key: KeyObject) => (d: string) => sign('sha256', Buffer.from(d), key);

function hsToken(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT({ key: 'dave-hs', ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));
}
function idpToken(kid: string, key: KeyObject, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'app-1', aud: AUD, iss: ISS, ...claims }).setProtectedHeader({ alg: 'RS256', kid }).setIssuedAt().setExpirationTime('5m').sign(key);
}

describe('jwt-auth in meridian gateway', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-jwt-e2e-'));
  let jwks: Server;
  let upstream: Awaited<ReturnType<typeof echoUpstream>>;
  let gw: PluginGateway | undefined;
  let url = '';

  async function call(path: string, token?: string): Promise<{ status: number; ms: number; body: Record<string, unknown>; headers: Headers }> {
    const t0 = performance.now();
    const r = await fetch(`${url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const text = await r.text();
    return { status: r.status, ms: performance.now() - t0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: r.headers };
  }
  const status = async (path: string, token?: string) => (await call(path, token)).status;

  beforeAll(async () => {
    jwks = createServer((req, res) => {
      const p = paths[(req.url ?? '').slice(1)];
      if (!p) return void res.writeHead(404).end();
      p.fetches++;
      if (p.mode === 'hang') return; // never answers: the gateway's deadline must end it
      if (p.mode === 'reset') return void req.socket.destroy();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: p.keys }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const jwksBase = `http://127.0.0.1:${(jwks.address() as { port: number }).port}`;
    const nothing = await freePort(); // nothing listens there: connection refused
    upstream = await echoUpstream();
    const up = { nodes: [{ host: '127.0.0.1', port: Number(new URL(upstream.url).port) }] };
    const idp = (id: string, jwksUrl: string, jwksOpts: object) => ({
      id, paths: [`/${id}`], upstream: up,
      plugins: { 'jwt-auth': { jwks_url: jwksUrl, key_claim: 'sub', audience: AUD, issuer: ISS, jwks: jwksOpts } },
    });
    writeFileSync(join(dir, 'routes.yaml'), JSON.stringify({
      revision: 1,
      consumers: [
        { username: 'dave', plugins: { 'jwt-auth': { key: 'dave-hs', secret: SECRET } } },
        { username: 'erin', plugins: { 'jwt-auth': { key: 'erin-rs', algorithm: 'RS256', public_key: pem(rsaPem.publicKey) } } },
        // Named by the identity provider's tokens (sub), verified with the route's JWKS.
        { username: 'app', plugins: { 'jwt-auth': { key: 'app-1' } } },
        { username: 'gina', plugins: { 'jwt-auth': { key: 'gina', algorithm: 'RS256', jwks_url: `${jwksBase}/consumer` } } },
      ],
      routes: [
        { id: 'hs', paths: ['/hs'], upstream: up, plugins: { 'jwt-auth': { leeway_s: 60 } } },
        { id: 'claims', paths: ['/claims'], upstream: up, plugins: { 'jwt-auth': { audience: AUD, issuer: [ISS, 'https://other.test'] } } },
        idp('idp-a', `${jwksBase}/a`, { cooldown_s: 1 }),
        idp('idp-b', `${jwksBase}/b`, { cooldown_s: 300 }),
        idp('idp-c', `${jwksBase}/c`, { cooldown_s: 1, cache_max_age_s: 1 }),
        idp('down', `http://127.0.0.1:${nothing}/jwks`, { cooldown_s: 300 }),
        idp('hang', `${jwksBase}/hang`, { cooldown_s: 300, timeout_ms: 500 }),
        { id: 'cj', paths: ['/cj'], upstream: up, plugins: { 'jwt-auth': {} } },
      ],
    }));
    gw = await startPluginGateway({ dir, name: 'gw-jwt', ready: async (u) => (await fetch(`${u}/hs`)).status === 401 });
    url = gw.url;
  }, 90_000);

  afterAll(async () => {
    await gw?.stop();
    jwks.closeAllConnections();
    await new Promise((r) => jwks.close(r));
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('HS256 with the consumer secret: 200, the consumer named upstream', async () => {
    const r = await call('/hs', await hsToken({ exp: now() + 60 }));
    expect(r.status, gw?.output()).toBe(200);
    expect((r.body.headers as Record<string, string>)['x-consumer-username']).toBe('dave');
  });

  it('RS256 through the route JWKS: 200 for the consumer named by sub, one fetch for many requests', async () => {
    const t = await idpToken('k1', k1.privateKey);
    const results = await Promise.all(Array.from({ length: 20 }, () => call('/idp-a', t)));
    expect(results.map((r) => r.status), gw?.output()).toEqual(Array(20).fill(200));
    expect((results[0]!.body.headers as Record<string, string>)['x-consumer-username']).toBe('app');
    expect(paths.a!.fetches).toBe(1);
    // A verified sub that names no consumer is not let through.
    expect(await status('/idp-a', await idpToken('k1', k1.privateKey, { sub: 'stranger' }))).toBe(401);
  });

  it('RS256 through a consumer jwks_url', async () => {
    const t = await new SignJWT({ key: 'gina' }).setProtectedHeader({ alg: 'RS256', kid: 'g1' }).sign(k2.privateKey);
    expect(await status('/cj', t)).toBe(200);
    // The same key under another kid the JWKS does not have: refused.
    expect(await status('/cj', await new SignJWT({ key: 'gina' }).setProtectedHeader({ alg: 'RS256', kid: 'zz' }).sign(k2.privateKey))).toBe(401);
  });

  it('rotation: a new kid is accepted after one refetch, not one per request', async () => {
    expect(await status('/idp-a', await idpToken('k1', k1.privateKey))).toBe(200);
    const fetchesBefore = paths.a!.fetches;
    paths.a!.keys = [jwk(k1.publicKey, 'k1'), jwk(k2.publicKey, 'k2')];
    const t2 = await idpToken('k2', k2.privateKey);
    // Refused while the last fetch is younger than cooldown_s (1 s), then accepted.
    await expect.poll(() => status('/idp-a', t2), { timeout: 15_000, interval: 50 }).toBe(200);
    expect(paths.a!.fetches).toBe(fetchesBefore + 1);
    const again = await Promise.all(Array.from({ length: 20 }, () => status('/idp-a', t2)));
    expect(again).toEqual(Array(20).fill(200));
    expect(paths.a!.fetches).toBe(fetchesBefore + 1);
  });

  it('a flood of unknown kids does not refetch within the cooldown', async () => {
    expect(await status('/idp-b', await idpToken('k1', k1.privateKey))).toBe(200);
    expect(paths.b!.fetches).toBe(1);
    const flood = await Promise.all(Array.from({ length: 200 }, async () => status('/idp-b', await idpToken(randomUUID(), k1.privateKey))));
    expect(new Set(flood)).toEqual(new Set([401]));
    expect(paths.b!.fetches).toBe(1); // cooldown_s 300: no refetch at all
    expect(await status('/idp-b', await idpToken('k1', k1.privateKey))).toBe(200);
  });

  it('refuses a wrong audience or issuer (consumer keys and route JWKS)', async () => {
    expect(await status('/claims', await hsToken({ aud: AUD, iss: ISS }))).toBe(200);
    expect(await status('/claims', await hsToken({ aud: [AUD, 'x'], iss: 'https://other.test' }))).toBe(200);
    for (const claims of [{ aud: 'other-api', iss: ISS }, { aud: AUD, iss: 'https://evil.test' }, { iss: ISS }, { aud: AUD }]) {
      expect(await status('/claims', await hsToken(claims)), JSON.stringify(claims)).toBe(401);
    }
    expect(await status('/idp-a', await idpToken('k1', k1.privateKey, { aud: 'other-api' }))).toBe(401);
    expect(await status('/idp-a', await idpToken('k1', k1.privateKey, { iss: 'https://evil.test' }))).toBe(401);
  });

  it('exp and nbf with leeway_s 60: within the skew 200, beyond it 401', async () => {
    expect(await status('/hs', await hsToken({ exp: now() - 30 }))).toBe(200);
    expect(await status('/hs', await hsToken({ nbf: now() + 30 }))).toBe(200);
    expect(await status('/hs', await hsToken({ exp: now() - 120 }))).toBe(401);
    expect(await status('/hs', await hsToken({ nbf: now() + 120 }))).toBe(401);
  });

  it('refuses alg none, key confusion, a key the token brings and an unknown crit', async () => {
    const none = (payload: object) => `${b64u({ alg: 'none', typ: 'JWT' })}.${b64u(payload)}.`;
    expect(await status('/hs', none({ key: 'dave-hs' }))).toBe(401);
    expect(await status('/idp-a', none({ sub: 'app-1', aud: AUD, iss: ISS }))).toBe(401);
    // RS256 credential; the token says HS256, signed with the (public) PEM as the HMAC secret.
    expect(await status('/hs', raw({ alg: 'HS256', typ: 'JWT' }, { key: 'erin-rs' }, hs256(pem(rsaPem.publicKey))))).toBe(401);
    expect(await status('/hs', raw({ alg: 'RS256', typ: 'JWT' }, { key: 'erin-rs' }, rs256(rsaPem.privateKey)))).toBe(200); // control
    // The same against the route JWKS (the public key of k1 as the secret, its kid).
    const idpClaims = { sub: 'app-1', aud: AUD, iss: ISS };
    expect(await status('/idp-a', raw({ alg: 'HS256', kid: 'k1' }, idpClaims, hs256(pem(k1.publicKey))))).toBe(401);
    // A key the token brings itself (embedded jwk, or a jku to fetch) is never used.
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const own = { alg: 'RS256', kid: 'k1', jwk: jwk(attacker.publicKey, 'k1'), jku: `${url}/evil.json` };
    expect(await status('/idp-a', raw(own, idpClaims, rs256(attacker.privateKey)))).toBe(401);
    // A critical header the verifier does not implement must be refused, however well signed.
    expect(await status('/hs', raw({ alg: 'HS256', crit: ['x-must-know'], 'x-must-know': true }, { key: 'dave-hs' }, hs256(SECRET)))).toBe(401);
    expect(await status('/hs', raw({ alg: 'HS256', 'x-must-know': true }, { key: 'dave-hs' }, hs256(SECRET)))).toBe(200); // control
    expect(await status('/idp-a', raw({ alg: 'RS256', kid: 'k1', crit: ['x-must-know'], 'x-must-know': 1 }, idpClaims, rs256(k1.privateKey)))).toBe(401);
  });

  it('the JWKS endpoint down after the first fetch: the cached keys still verify', async () => {
    const t = await idpToken('k1', k1.privateKey);
    expect(await status('/idp-c', t)).toBe(200);
    const fetched = paths.c!.fetches;
    paths.c!.mode = 'reset';
    const seen: number[] = [];
    // cache_max_age_s 1: a background refresh is tried (and fails) while requests keep coming.
    await expect.poll(async () => {
      seen.push(await status('/idp-c', t));
      return paths.c!.fetches;
    }, { timeout: 15_000, interval: 100 }).toBeGreaterThan(fetched);
    seen.push(await status('/idp-c', t));
    expect(new Set(seen)).toEqual(new Set([200]));
    // Back up without k1 (revoked): once refreshed, its token is refused, cached or not.
    paths.c!.keys = [jwk(k2.publicKey, 'k2')];
    paths.c!.mode = 'ok';
    await expect.poll(() => status('/idp-c', t), { timeout: 15_000, interval: 100 }).toBe(401);
    expect(await status('/idp-c', await idpToken('k2', k2.privateKey))).toBe(200);
  });

  it('a JWKS unreachable at first use answers 503 with a code, quickly, and is not asked per request', async () => {
    const t = await idpToken('k1', k1.privateKey);
    const refused = await call('/down', t);
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('MERIDIAN_ERR_PLUGIN_JWKS_UNAVAILABLE');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.ms).toBeLessThan(5_000);

    // An endpoint that accepts and never answers: the fetch deadline (500 ms) ends the wait.
    const first = await call('/hang', t);
    expect(first.status).toBe(503);
    expect(first.ms).toBeLessThan(500 + 4_500);
    const next = await Promise.all(Array.from({ length: 10 }, () => call('/hang', t)));
    expect(next.map((r) => r.status)).toEqual(Array(10).fill(503));
    expect(paths.hang!.fetches).toBe(1); // one attempt per cooldown, not one per request
  });
});
