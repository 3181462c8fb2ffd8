import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { builtinRegistry } from '../../src/plugins/index.js';
import { hashPassword } from '../../src/plugins/basic-auth.js';
import type { Consumer } from '../../src/core/model/index.js';
import { echoUpstream } from './helpers/upstream.js';
import { callRoute, DataPlane, startPluginGateway, type PluginGateway } from './helpers/meridian-gateway.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsaPs = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ec521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
const ed = generateKeyPairSync('ed25519');
const spki = (k: { publicKey: KeyObject }) => k.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const HMAC_SECRET = 'a-shared-secret-of-some-length';
const registry = builtinRegistry();
const dir = mkdtempSync(join(tmpdir(), 'meridian-auth-'));
let upstream: Awaited<ReturnType<typeof echoUpstream>>;
let gateway: PluginGateway | undefined;
/** The routes and consumers `meridian gateway` serves (one worker, file config); `consumers` is the snapshot's list. */
const plane = new DataPlane(join(dir, 'routes.yaml'), () => (gateway ? [gateway] : []));
const holder = { get list(): Consumer[] { return plane.consumers as Consumer[]; } };
/** A new consumers snapshot, served once this resolves. */
async function setConsumers(list: Consumer[]): Promise<void> {
  plane.consumers = list;
  await plane.apply();
}

beforeAll(async () => {
  plane.consumers = [
    { username: 'alice', plugins: { 'key-auth': { key: 'alice-key-123456' }, 'basic-auth': { username: 'alice', password_hash: await hashPassword('wonderland', 1024) } } },
    { username: 'bob', plugins: { 'key-auth': { key_hash: `sha256:${createHash('sha256').update('bob-key-abcdefgh').digest('hex')}` }, 'basic-auth': { username: 'bob', password: 'builder-pw' } } },
    { username: 'carol', plugins: { 'hmac-auth': { username: 'carol-key', secret: HMAC_SECRET } } },
    { username: 'dave', plugins: { 'jwt-auth': { key: 'dave-hs', secret: 'dave-secret-0123456789' } } },
    { username: 'erin', plugins: { 'jwt-auth': { key: 'erin-rs', algorithm: 'RS256', public_key: rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString() } } },
    { username: 'frank', plugins: { 'jwt-auth': { key: 'frank-es', algorithm: 'ES256', public_key: ec.publicKey.export({ type: 'spki', format: 'pem' }).toString() } } },
    { username: 'hs512', plugins: { 'jwt-auth': { key: 'hs512', algorithm: 'HS512', secret: Buffer.from('h'.repeat(64)).toString('base64'), base64_secret: true } } },
    { username: 'ps256', plugins: { 'jwt-auth': { key: 'ps256', algorithm: 'PS256', public_key: spki(rsaPs) } } },
    { username: 'rs384', plugins: { 'jwt-auth': { key: 'rs384', algorithm: 'RS384', public_key: spki(rsaPs) } } },
    { username: 'es384', plugins: { 'jwt-auth': { key: 'es384', algorithm: 'ES384', public_key: spki(ec384) } } },
    { username: 'es512', plugins: { 'jwt-auth': { key: 'es512', algorithm: 'ES512', public_key: spki(ec521) } } },
    { username: 'eddsa', plugins: { 'jwt-auth': { key: 'eddsa', algorithm: 'EdDSA', public_key: spki(ed) } } },
    // Unusable credentials: left out with a warning, their tokens refused.
    { username: 'mixed', plugins: { 'jwt-auth': { key: 'mixed', algorithm: 'RS256', secret: 'a-secret-0123456789', public_key: spki(rsaPs) } } },
    { username: 'wrongtype', plugins: { 'jwt-auth': { key: 'wrongtype', algorithm: 'ES256', public_key: spki(rsaPs) } } },
    { username: 'short', plugins: { 'jwt-auth': { key: 'short', algorithm: 'RS256', public_key: spki(rsa1024) } } },
  ];
  upstream = await echoUpstream();
  plane
    .route('key', { 'key-auth': { hide_credentials: true } }, upstream.url)
    .route('basic', { 'basic-auth': {} }, upstream.url)
    .route('hmac', { 'hmac-auth': { clock_skew: 60 } }, upstream.url)
    .route('hmacbody', { 'hmac-auth': { validate_request_body: true } }, upstream.url)
    .route('jwt', { 'jwt-auth': { leeway_s: 0 } }, upstream.url)
    .write();
  gateway = await startPluginGateway({ dir, name: 'gw-auth' });
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

async function get(g: string, path = '/', headers: Record<string, string> = {}, method = 'GET', body?: string) {
  const r = await callRoute(gateway!, g, { path, headers, method, body });
  const json = r.text ? (JSON.parse(r.text) as Record<string, unknown>) : {};
  // A coded error names the request it answers, as the x-request-id header does; the assertions below compare the rest.
  if (typeof json.code === 'string') {
    expect(json.request_id).toBeTypeOf('string');
    expect(json.request_id).toBe(r.headers['x-request-id']);
    delete json.request_id;
  }
  return { status: r.status, headers: r.headers, json };
}

const UNAUTHORIZED = { code: 'MERIDIAN_ERR_PLUGIN_UNAUTHORIZED', message: 'unauthorized' };

describe('key-auth', () => {
  it('accepts a key in the header or the query, sends the consumer upstream, hides the key', async () => {
    const r = await get('key', '/x', { apikey: 'alice-key-123456', 'x-consumer-username': 'mallory' });
    expect(r.status).toBe(200);
    const h = r.json.headers as Record<string, string>;
    expect(h['x-consumer-username']).toBe('alice');
    expect(h.apikey).toBeUndefined();
    const q = await get('key', '/x?apikey=bob-key-abcdefgh');
    expect(q.status).toBe(200);
    expect((q.json.headers as Record<string, string>)['x-consumer-username']).toBe('bob');
  });

  it('refuses a missing or wrong key with the same 401', async () => {
    const before = upstream.hits();
    const a = await get('key', '/x');
    const b = await get('key', '/x', { apikey: 'alice-key-123457' });
    expect([a.status, b.status]).toEqual([401, 401]);
    expect(a.headers['content-length']).toBe(String(Buffer.byteLength(JSON.stringify({ ...UNAUTHORIZED, request_id: a.headers['x-request-id'] }))));
    expect(a.json).toEqual(UNAUTHORIZED);
    expect(b.json).toEqual(UNAUTHORIZED);
    expect(upstream.hits()).toBe(before);
  });

  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'key-auth': { header: '' } } }, 'route k')).toThrow('plugin key-auth at route k (route): header: must be at least 1 characters');
    expect(() => registry.validateCredential('key-auth', { key: 'short' }, 'consumer x')).toThrow('plugin key-auth at consumer x: key: must be at least 8 characters');
  });

  it('picks up new consumers when the config snapshot changes', async () => {
    expect((await get('key', '/', { apikey: 'zed-key-00000000' })).status).toBe(401);
    await setConsumers([...holder.list, { username: 'zed', plugins: { 'key-auth': { key: 'zed-key-00000000' } } }]);
    expect((await get('key', '/', { apikey: 'zed-key-00000000' })).status).toBe(200);
  });
});

describe('basic-auth', () => {
  const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
  it('accepts scrypt- and sha256-stored passwords', async () => {
    const a = await get('basic', '/', basic('alice', 'wonderland'));
    expect(a.status).toBe(200);
    expect((a.json.headers as Record<string, string>)['x-consumer-username']).toBe('alice');
    expect((await get('basic', '/', basic('alice', 'wonderland'))).status).toBe(200);
    expect((await get('basic', '/', basic('bob', 'builder-pw'))).status).toBe(200);
  });
  it('refuses wrong password, unknown user, garbage with the same 401 and a challenge', async () => {
    for (const h of [basic('alice', 'wonderlan'), basic('nobody', 'wonderland'), { authorization: 'Basic !!!' }, {}]) {
      const r = await get('basic', '/', h);
      expect(r.status).toBe(401);
      expect(r.json).toEqual(UNAUTHORIZED);
      expect(r.headers['www-authenticate']).toBe('Basic realm="meridian"');
    }
  });
  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'basic-auth': { realm: 5 } } }, 'route b')).toThrow('plugin basic-auth at route b (route): realm: must be a string, got number 5');
  });
});

/** Signs with python3's hmac module: an implementation independent of node:crypto. */
function pythonSign(secret: string, toSign: string, algo = 'sha256'): string {
  const py = 'import sys,hmac,hashlib,base64;d=sys.stdin.read();print(base64.b64encode(hmac.new(sys.argv[1].encode(),d.encode(),getattr(hashlib,sys.argv[2])).digest()).decode())';
  return execFileSync('python3', ['-c', py, secret, algo], { input: toSign }).toString().trim();
}

function opensslSign(secret: string, toSign: string): string {
  const raw = execFileSync('openssl', ['dgst', '-sha256', '-hmac', secret, '-binary'], { input: toSign });
  return raw.toString('base64');
}

describe('hmac-auth (Kong scheme)', () => {
  const date = () => new Date().toUTCString();
  it('accepts signatures made by python3 hmac and by openssl', async () => {
    const d = date();
    const toSign = `x-date: ${d}\nGET /orders?id=7 HTTP/1.1`;
    for (const sig of [pythonSign(HMAC_SECRET, toSign), opensslSign(HMAC_SECRET, toSign)]) {
      const r = await get('hmac', '/orders?id=7', { 'x-date': d, authorization: `hmac username="carol-key", algorithm="hmac-sha256", headers="x-date request-line", signature="${sig}"` });
      expect(r.status).toBe(200);
      expect((r.json.headers as Record<string, string>)['x-consumer-username']).toBe('carol');
    }
    const s512 = pythonSign(HMAC_SECRET, `date: ${d}\nGET / HTTP/1.1`, 'sha512');
    expect((await get('hmac', '/', { date: d, authorization: `hmac username="carol-key", algorithm="hmac-sha512", headers="date request-line", signature="${s512}"` })).status).toBe(200);
  });

  it('refuses tampered requests, signatures, old dates, unsigned dates and sha1 by default', async () => {
    const d = date();
    const sig = pythonSign(HMAC_SECRET, `x-date: ${d}\nGET /orders?id=7 HTTP/1.1`);
    const auth = (s: string, headers = 'x-date request-line', algo = 'hmac-sha256') => `hmac username="carol-key", algorithm="${algo}", headers="${headers}", signature="${s}"`;
    const cases: Array<[string, Record<string, string>]> = [
      ['/orders?id=8', { 'x-date': d, authorization: auth(sig) }],
      ['/orders?id=7', { 'x-date': d, authorization: auth(`${sig.slice(0, -4)}AAA=`) }],
      ['/orders?id=7', { 'x-date': 'Mon, 01 Jan 2024 00:00:00 GMT', authorization: auth(sig) }],
      ['/orders?id=7', { 'x-date': d, authorization: auth(pythonSign(HMAC_SECRET, 'GET /orders?id=7 HTTP/1.1'), 'request-line') }],
      ['/orders?id=7', { 'x-date': d, authorization: auth(pythonSign(HMAC_SECRET, `x-date: ${d}`, 'sha1'), 'x-date', 'hmac-sha1') }],
      ['/orders?id=7', { 'x-date': d, authorization: auth(pythonSign('wrong-secret-xxxxxxxxxxx', `x-date: ${d}\nGET /orders?id=7 HTTP/1.1`)) }],
      ['/orders?id=7', { 'x-date': d, authorization: `hmac username="nobody", algorithm="hmac-sha256", headers="x-date", signature="${sig}"` }],
    ];
    for (const [path, headers] of cases) {
      const r = await get('hmac', path, headers);
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expect(r.json).toEqual(UNAUTHORIZED);
    }
  });

  it('checks the body digest when asked, and the body still reaches the upstream', async () => {
    const d = date();
    const body = '{"amount":100}';
    const digest = `SHA-256=${execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: body }).toString('base64')}`;
    const sig = pythonSign(HMAC_SECRET, `x-date: ${d}\ndigest: ${digest}\nPOST /pay HTTP/1.1`);
    const headers = { 'x-date': d, digest, 'content-type': 'application/json', authorization: `hmac username="carol-key", algorithm="hmac-sha256", headers="x-date digest request-line", signature="${sig}"` };
    const ok = await get('hmacbody', '/pay', headers, 'POST', body);
    expect(ok.status).toBe(200);
    expect(ok.json.body).toBe(body);
    const bad = await get('hmacbody', '/pay', headers, 'POST', '{"amount":999}');
    expect(bad.status).toBe(401);
  });

  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'hmac-auth': { algorithms: ['hmac-md5'] } } }, 'route h')).toThrow('plugin hmac-auth at route h (route): algorithms[0]: must be one of "hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512", got string "hmac-md5"');
  });
});

function b64u(x: object | Buffer): string {
  return (Buffer.isBuffer(x) ? x : Buffer.from(JSON.stringify(x))).toString('base64url');
}
function jwt(alg: string, payload: object, signer: (data: string) => Buffer): string {
  const data = `${b64u({ alg, typ: 'JWT' })}.${b64u(payload)}`;
  return `${data}.${b64u(signer(data))}`;
}
const hs = (secret: string) => (d: string) => createHmac('sha256', secret).update(d).digest();
const now = () => Math.floor(Date.now() / 1000);

describe('jwt-auth', () => {
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  it('accepts HS256, RS256 and ES256 tokens of their consumers', async () => {
    const h = jwt('HS256', { key: 'dave-hs', exp: now() + 60 }, hs('dave-secret-0123456789'));
    const r = jwt('RS256', { key: 'erin-rs', nbf: now() - 5 }, (d) => sign('sha256', Buffer.from(d), rsa.privateKey));
    const e = jwt('ES256', { key: 'frank-es' }, (d) => sign('sha256', Buffer.from(d), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }));
    for (const [t, who] of [[h, 'dave'], [r, 'erin'], [e, 'frank']] as const) {
      const res = await get('jwt', '/', bearer(t));
      expect(res.status).toBe(200);
      expect((res.json.headers as Record<string, string>)['x-consumer-username']).toBe(who);
    }
    expect((await get('jwt', `/?jwt=${h}`)).status).toBe(200);
    expect((await get('jwt', '/', { cookie: `a=b; jwt=${h}` })).status).toBe(200);
  });

  it('refuses expired, not-yet-valid, wrong-key, alg-swapped and none tokens with the same 401', async () => {
    const cases = [
      jwt('HS256', { key: 'dave-hs', exp: now() - 10 }, hs('dave-secret-0123456789')),
      jwt('HS256', { key: 'dave-hs', nbf: now() + 60 }, hs('dave-secret-0123456789')),
      jwt('HS256', { key: 'dave-hs' }, hs('another-secret-0123456789')),
      // RS256 credential, token claims HS256 signed with the public key as secret (alg confusion).
      jwt('HS256', { key: 'erin-rs' }, hs(rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString())),
      `${b64u({ alg: 'none' })}.${b64u({ key: 'dave-hs' })}.`,
      jwt('ES256', { key: 'frank-es' }, (d) => sign('sha256', Buffer.from(d), ec.privateKey)), // DER, not JWS r||s
      'not-a-token',
    ];
    for (const t of cases) {
      const r = await get('jwt', '/', bearer(t));
      expect(r.status, t).toBe(401);
      expect(r.json).toEqual(UNAUTHORIZED);
    }
    expect((await get('jwt', '/')).status).toBe(401);
  });

  it('accepts HS512, PS256, RS384, ES384, ES512 and EdDSA, each only with its pinned algorithm', async () => {
    const cases: Array<[string, string, Parameters<SignJWT['sign']>[0]]> = [
      ['hs512', 'HS512', Buffer.from('h'.repeat(64))],
      ['ps256', 'PS256', rsaPs.privateKey],
      ['rs384', 'RS384', rsaPs.privateKey],
      ['es384', 'ES384', ec384.privateKey],
      ['es512', 'ES512', ec521.privateKey],
      ['eddsa', 'EdDSA', ed.privateKey],
    ];
    for (const [key, alg, signer] of cases) {
      const res = await get('jwt', '/', bearer(await new SignJWT({ key }).setProtectedHeader({ alg }).sign(signer)));
      expect(res.status, alg).toBe(200);
      expect((res.json.headers as Record<string, string>)['x-consumer-username']).toBe(key);
    }
    // The same key under a sibling algorithm: refused (RS256 vs PS256, HS256 vs HS512).
    const swapped: Array<[string, string, Parameters<SignJWT['sign']>[0]]> = [
      ['ps256', 'RS256', rsaPs.privateKey],
      ['rs384', 'PS384', rsaPs.privateKey],
      ['rs384', 'RS256', rsaPs.privateKey],
      ['hs512', 'HS256', Buffer.from('h'.repeat(64))],
      ['erin-rs', 'PS256', rsa.privateKey],
    ];
    for (const [key, alg, signer] of swapped) {
      expect((await get('jwt', '/', bearer(await new SignJWT({ key }).setProtectedHeader({ alg }).sign(signer)))).status, `${key} ${alg}`).toBe(401);
    }
  });

  it('refuses a token with a critical header it does not implement', async () => {
    const withCrit = (head: object) => {
      const data = `${b64u(head)}.${b64u({ key: 'dave-hs' })}`;
      return `${data}.${b64u(hs('dave-secret-0123456789')(data))}`;
    };
    expect((await get('jwt', '/', bearer(withCrit({ alg: 'HS256', 'x-bind': 'tls' })))).status).toBe(200);
    expect((await get('jwt', '/', bearer(withCrit({ alg: 'HS256', crit: ['x-bind'], 'x-bind': 'tls' })))).status).toBe(401);
  });

  it('a verified token is remembered only while its consumer and its exp hold', async () => {
    const zoe: Consumer = { username: 'zoe', plugins: { 'jwt-auth': { key: 'zoe', algorithm: 'HS384', secret: 'zoe-secret-0123456789-0123456789' } } };
    await setConsumers([...holder.list, zoe]);
    const t = await new SignJWT({ key: 'zoe' }).setProtectedHeader({ alg: 'HS384' }).setExpirationTime(now() + 2).sign(Buffer.from('zoe-secret-0123456789-0123456789'));
    expect((await get('jwt', '/', bearer(t))).status).toBe(200);
    expect((await get('jwt', '/', bearer(t))).status).toBe(200);
    // leeway_s 0 on this route: refused once exp is reached, although it was verified before.
    await expect.poll(async () => (await get('jwt', '/', bearer(t))).status, { timeout: 10_000, interval: 200 }).toBe(401);
    const t2 = await new SignJWT({ key: 'zoe' }).setProtectedHeader({ alg: 'HS384' }).sign(Buffer.from('zoe-secret-0123456789-0123456789'));
    expect((await get('jwt', '/', bearer(t2))).status).toBe(200);
    await setConsumers(holder.list.filter((c) => c !== zoe)); // a new consumers snapshot without zoe
    expect((await get('jwt', '/', bearer(t2))).status).toBe(401);
  });

  it('leaves out credentials that cannot verify, saying why', async () => {
    expect((await get('jwt', '/', bearer(await new SignJWT({ key: 'mixed' }).setProtectedHeader({ alg: 'RS256' }).sign(rsaPs.privateKey))))).toMatchObject({ status: 401 });
    expect((await get('jwt', '/', bearer(await new SignJWT({ key: 'wrongtype' }).setProtectedHeader({ alg: 'ES256' }).sign(ec.privateKey))))).toMatchObject({ status: 401 });
    // The gateway's log (JSON lines) says why each was left out.
    const why = gateway!.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { plugin?: string; err?: string }).filter((l) => l.plugin === 'jwt-auth').map((l) => l.err);
    expect(why).toContain('give one of secret, public_key, jwks_url');
    expect(why).toContain('public_key is a rsa key, not one for ES256');
    expect(why).toContain('public_key is an RSA key of 1024 bits; RS256 needs at least 2048');
  });

  it('rejects bad config with its exact message', () => {
    expect(() => registry.compile({ route: { 'jwt-auth': { leeway_s: -1 } } }, 'route j')).toThrow('plugin jwt-auth at route j (route): leeway_s: must be >= 0, got -1');
    expect(() => registry.compile({ route: { 'jwt-auth': { jwks_url: 'file:///etc/keys' } } }, 'route j')).toThrow('plugin jwt-auth at route j (route): jwks_url: "file:///etc/keys" does not match ^https?://');
    expect(() => registry.compile({ route: { 'jwt-auth': { jwks_url: 'https://idp.test/jwks', algorithms: ['HS256'] } } }, 'route j')).toThrow('plugin jwt-auth at route j (route): algorithms[0]: must be one of "RS256"');
    expect(() => registry.compile({ route: { 'jwt-auth': { jwks: { max_bytes: 10 } } } }, 'route j')).toThrow('plugin jwt-auth at route j (route): jwks.max_bytes: must be >= 1024, got 10');
    expect(() => registry.validateCredential('jwt-auth', { key: 'k', algorithm: 'none' }, 'consumer x')).toThrow('plugin jwt-auth at consumer x: algorithm: must be one of "HS256"');
  });
});
