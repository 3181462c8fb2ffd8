import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SignJWT, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet } from 'jose';
import { Value } from '@sinclair/typebox/value';
import { JwksOptions, JwksUnavailable, RemoteKeySet, fetchJwks } from '../../../src/plugins/jwt/jwks.js';

const OPTS: JwksOptions = Value.Default(JwksOptions, {}) as JwksOptions;
const k1 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const k2 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = (k: typeof k1, kid: string) => ({ ...k.publicKey.export({ format: 'jwk' }), kid, alg: 'ES256' });
const token = (k: typeof k1, kid: string) => new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'ES256', kid }).sign(k.privateKey);

/** The JWKS endpoint's answer per path: a handler, so each test says what the endpoint does. */
const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
  '/ok': (_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk(k1, 'a')] })),
  '/big-declared': (_q, r) => r.writeHead(200, { 'content-length': String(OPTS.max_bytes + 1) }).end(' '.repeat(OPTS.max_bytes + 1)),
  // Chunked, no Content-Length: the cap must hold while streaming.
  '/big-chunked': (_q, r) => {
    r.writeHead(200);
    for (let i = 0; i < 40; i++) r.write(' '.repeat(16_384));
    r.end();
  },
  '/many-keys': (_q, r) => r.writeHead(200).end(JSON.stringify({ keys: Array.from({ length: OPTS.max_keys + 1 }, (_, i) => jwk(k1, `k${i}`)) })),
  '/redirect': (_q, r) => r.writeHead(302, { location: '/ok' }).end(),
  '/not-jwks': (_q, r) => r.writeHead(200).end('{"kes":[]}'),
  '/error': (_q, r) => r.writeHead(500).end('{}'),
  '/hang': () => undefined,
};
let server: Server;
let base = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    const handle = routes[req.url ?? ''];
    if (handle) handle(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('fetchJwks bounds', () => {
  it('reads a JWKS', async () => {
    expect((await fetchJwks(`${base}/ok`, OPTS)).keys).toHaveLength(1);
  });
  it.each([
    ['/big-declared', /over max_bytes/],
    ['/big-chunked', /over max_bytes/],
    ['/many-keys', /keys over max_keys 50/],
    ['/redirect', /HTTP 302/],
    ['/not-jwks', /not a JWKS/],
    ['/error', /HTTP 500/],
  ])('refuses %s', async (path, why) => {
    await expect(fetchJwks(`${base}${path}`, OPTS)).rejects.toThrow(why);
  });
  it('gives up on an endpoint that never answers after timeout_ms', async () => {
    const t0 = performance.now();
    await expect(fetchJwks(`${base}/hang`, { ...OPTS, timeout_ms: 200 })).rejects.toThrow();
    expect(performance.now() - t0).toBeLessThan(3_000);
  });
});

describe('RemoteKeySet', () => {
  /** A key set on a fake clock whose fetches the test answers (or fails) itself. */
  function fixture(opts: Partial<JwksOptions> = {}) {
    const clock = { ms: 1_000_000 };
    const state = { jwks: { keys: [jwk(k1, 'a')] } as JSONWebKeySet, fail: false, fetches: 0 };
    const set = new RemoteKeySet('http://jwks.test/keys', { ...OPTS, ...opts }, () => clock.ms, async () => {
      state.fetches++;
      if (state.fail) throw new Error('down');
      return state.jwks;
    });
    const verify = async (t: string) => jwtVerify(t, set.getKey, { algorithms: ['ES256'] });
    return { clock, state, set, verify };
  }

  it('fetches once, then verifies from the cache', async () => {
    const f = fixture();
    const t = await token(k1, 'a');
    for (let i = 0; i < 5; i++) await f.verify(t);
    expect(f.state.fetches).toBe(1);
  });

  it('an unknown kid refetches at most once per cooldown', async () => {
    const f = fixture({ cooldown_s: 30 });
    await f.verify(await token(k1, 'a'));
    f.state.jwks = { keys: [jwk(k1, 'a'), jwk(k2, 'b')] };
    const tb = await token(k2, 'b');
    // Within the cooldown: refused without a fetch, however many times it is asked.
    for (let i = 0; i < 10; i++) await expect(f.verify(tb)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(f.state.fetches).toBe(1);
    f.clock.ms += 30_000;
    // Concurrent requests share the one fetch.
    await Promise.all([f.verify(tb), f.verify(tb), f.verify(tb)]);
    expect(f.state.fetches).toBe(2);
    await expect(f.verify(await token(k2, 'nope'))).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(f.state.fetches).toBe(2);
  });

  it('serves the cached keys when stale and the endpoint fails, refreshing in the background', async () => {
    const f = fixture({ cache_max_age_s: 60, cooldown_s: 10 });
    const t = await token(k1, 'a');
    await f.verify(t);
    f.state.fail = true;
    f.clock.ms += 61_000;
    await f.verify(t); // stale: answered from the cache, a refresh started
    expect(f.state.fetches).toBe(2);
    await f.verify(t); // the refresh failed; within the cooldown, no new attempt
    expect(f.state.fetches).toBe(2);
    f.clock.ms += 10_000;
    await f.verify(t);
    expect(f.state.fetches).toBe(3);
    expect(f.set.loaded).toBe(true);
  });

  it('never fetched: JwksUnavailable with a retry-after, one attempt per cooldown', async () => {
    const f = fixture({ cooldown_s: 30 });
    f.state.fail = true;
    const t = await token(k1, 'a');
    for (let i = 0; i < 5; i++) await expect(f.verify(t)).rejects.toBeInstanceOf(JwksUnavailable);
    expect(f.state.fetches).toBe(1);
    f.clock.ms += 20_000;
    await expect(f.verify(t)).rejects.toMatchObject({ retryAfterS: 10 });
    f.clock.ms += 10_000;
    f.state.fail = false;
    await f.verify(t);
    expect(f.state.fetches).toBe(2);
  });

  it('refuses a JWKS key for an HMAC token (a JWKS holds public keys only)', async () => {
    const f = fixture();
    await f.verify(await token(k1, 'a'));
    const t = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: 'a' }).sign(Buffer.from('x'.repeat(32)));
    expect(decodeProtectedHeader(t).alg).toBe('HS256');
    await expect(jwtVerify(t, f.set.getKey, { algorithms: ['HS256'] })).rejects.toThrow();
  });
});
