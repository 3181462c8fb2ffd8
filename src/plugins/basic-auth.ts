import { createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import { SCRYPT_N, hashPassword, parseScryptHash } from '../core/secrets.js';
import type { Consumer } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { authenticate, credentials, safeEqual, sha256hex } from './shared/auth.js';
import { header } from './shared/headers.js';
import { Lru } from './shared/lru.js';
import { authFailures, limitRejected, passwordHashes, passwordHashesInFlight, passwordHashesPeak } from './shared/metrics.js';
import { deny, unauthorized } from './shared/respond.js';
import { perSnapshot, setServices } from './shared/services.js';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number }) => Promise<Buffer>;

export const BasicAuthConfig = Strict({
  hide_credentials: Type.Boolean({ default: false, description: 'remove the Authorization header before proxying (default false)' }),
  realm: Type.String({ minLength: 1, default: 'meridian', description: 'realm named in WWW-Authenticate (default meridian)' }),
  max_concurrent_checks: Type.Integer({
    minimum: 1,
    default: 2,
    description: 'password checks (scrypt, ~50 ms of CPU each) running at once in a worker, counted across every basic-auth route; a check beyond it is answered 429 with Retry-After: 1 at once (default 2)',
  }),
});
export type BasicAuthConfig = Static<typeof BasicAuthConfig>;

/**
 * A consumer's user name and password. `password_hash` is either `scrypt$N$r$p$<salt b64>$<hash b64>`
 * or `sha256$<hex>`; a clear `password` is accepted for tests and hashed at load.
 */
export const BasicAuthCredential = Strict({
  username: Type.String({ minLength: 1, maxLength: 256, pattern: '^[^:]+$' }),
  password: Type.Optional(Type.String({ minLength: 1 })),
  password_hash: Type.Optional(Type.String({ pattern: '^(scrypt\\$[0-9]+\\$[0-9]+\\$[0-9]+\\$[A-Za-z0-9+/=]+\\$[A-Za-z0-9+/=]+|sha256\\$[0-9a-f]{64})$' })),
});

/** How an operator makes a password_hash (docs, tests); the controller hashes with the same function. */
export { hashPassword };

interface ScryptParams {
  N: number;
  r: number;
  p: number;
}
type Verifier = ({ kind: 'scrypt'; salt: Buffer; hash: Buffer } & ScryptParams) | { kind: 'sha256'; hex: string };

interface Entry {
  consumer: Consumer;
  verifier: Verifier;
  /** The stored form of the password, part of the verified-pair cache key: a new hash invalidates it. */
  stored: string;
}

function verifierOf(cred: Static<typeof BasicAuthCredential>): Entry['verifier'] | undefined {
  if (cred.password_hash?.startsWith('scrypt$')) {
    const parts = parseScryptHash(cred.password_hash);
    return parts && { kind: 'scrypt', ...parts };
  }
  if (cred.password_hash?.startsWith('sha256$')) return { kind: 'sha256', hex: cred.password_hash.slice(7) };
  if (cred.password !== undefined) return { kind: 'sha256', hex: sha256hex(cred.password) };
  return undefined;
}

/** What hashPassword() makes: the dummy's cost when no scrypt hash is configured. */
const DEFAULT_PARAMS: ScryptParams = { N: SCRYPT_N, r: 8, p: 1 };

/**
 * The parameters most configured scrypt hashes use (ties: the costlier), for the dummy hash
 * that unknown users and sha256-stored passwords are checked against, so that every check
 * costs one scrypt of the usual cost whether the user exists or not.
 */
function usualParams(entries: Iterable<Entry>): ScryptParams {
  const counts = new Map<string, { params: ScryptParams; n: number }>();
  for (const { verifier: v } of entries) {
    if (v.kind !== 'scrypt') continue;
    const key = `${v.N}/${v.r}/${v.p}`;
    const c = counts.get(key) ?? { params: { N: v.N, r: v.r, p: v.p }, n: 0 };
    c.n++;
    counts.set(key, c);
  }
  let best: { params: ScryptParams; n: number } | undefined;
  const cost = (q: ScryptParams): number => q.N * q.r * q.p;
  for (const c of counts.values()) if (!best || c.n > best.n || (c.n === best.n && cost(c.params) > cost(best.params))) best = c;
  return best?.params ?? DEFAULT_PARAMS;
}

const index = perSnapshot((consumers) => {
  const byUser = new Map<string, Entry>();
  for (const { consumer, cred } of credentials('basic-auth', BasicAuthCredential, consumers)) {
    const verifier = verifierOf(cred);
    if (verifier) byUser.set(cred.username, { consumer, verifier, stored: verifier.kind === 'scrypt' ? (cred.password_hash as string) : verifier.hex });
  }
  return { byUser, dummy: { ...usualParams(byUser.values()), salt: randomBytes(16) } };
});

/**
 * scrypt costs ~50 ms of CPU on purpose; a verified (user, stored hash, password) triple is
 * remembered as an HMAC under a key that never leaves this process, so a keep-alive client
 * pays it once. The stored hash is part of the key: a changed password invalidates the entry
 * (also one verified against the old hash by a check still running when the config changed).
 */
const pepper = randomBytes(32);
const verified = new Lru<string, true>(10_000);

/** scrypt checks running in this worker (libuv's pool), across every basic-auth route. */
let inFlight = 0;
let peak = 0;

/** One scrypt, counted; a bad parameter set in a stored hash fails the check, never the request. */
async function scryptCounted(password: string, salt: Buffer, keylen: number, q: ScryptParams): Promise<Buffer | undefined> {
  passwordHashes.inc({ plugin: 'basic-auth', params: `${q.N}/${q.r}/${q.p}` });
  inFlight++;
  passwordHashesInFlight.set({ plugin: 'basic-auth' }, inFlight);
  if (inFlight > peak) {
    peak = inFlight;
    passwordHashesPeak.set({ plugin: 'basic-auth' }, peak);
  }
  try {
    return await scrypt(password, salt, keylen, { N: q.N, r: q.r, p: q.p, maxmem: 256 * q.N * q.r } as ScryptParams);
  } catch {
    return undefined;
  } finally {
    inFlight--;
    passwordHashesInFlight.set({ plugin: 'basic-auth' }, inFlight);
  }
}

/**
 * Exactly one scrypt per check, whoever asks: the user's own hash; for a sha256-stored password
 * or an unknown user, the dummy of the usual cost. The time of a refusal then does not tell
 * whether the user name exists.
 */
async function verify(entry: Entry | undefined, password: string, dummy: ScryptParams & { salt: Buffer }): Promise<boolean> {
  const v = entry?.verifier;
  if (v?.kind === 'scrypt') {
    const got = await scryptCounted(password, v.salt, v.hash.length, v);
    return got !== undefined && got.length === v.hash.length && timingSafeEqual(got, v.hash);
  }
  await scryptCounted(password, dummy.salt, 32, dummy);
  return v !== undefined && safeEqual(sha256hex(password), v.hex);
}

function parse(value: string | undefined): { user: string; password: string } | undefined {
  if (!value || value.length < 7 || value.slice(0, 6).toLowerCase() !== 'basic ') return undefined;
  const decoded = Buffer.from(value.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i <= 0) return undefined;
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

function challenge(cfg: BasicAuthConfig): ShortCircuit {
  return { ...unauthorized(), headers: { 'WWW-Authenticate': `Basic realm="${cfg.realm}"` } };
}

async function rewrite(ctx: RequestContext, cfg: BasicAuthConfig): Promise<ShortCircuit | undefined> {
  if (ctx.consumer) return undefined;
  const creds = parse(header(ctx.req, 'authorization'));
  if (!creds) {
    authFailures.inc({ plugin: 'basic-auth', route: ctx.route.id });
    return challenge(cfg);
  }
  const { byUser, dummy } = index();
  const entry = byUser.get(creds.user);
  const memo = createHmac('sha256', pepper).update(JSON.stringify([creds.user, entry?.stored ?? '', creds.password])).digest('base64');
  if (entry && verified.get(memo)) {
    authenticate(ctx, entry.consumer, cfg.hide_credentials ? 'authorization' : undefined);
    return undefined;
  }
  // Decided before any check and the same for known and unknown users: guessing cannot starve
  // the worker's CPU (other routes keep answering), nor tell which names exist.
  if (inFlight >= cfg.max_concurrent_checks) {
    limitRejected.inc({ plugin: 'basic-auth', route: ctx.route.id });
    return deny('MERIDIAN_ERR_PLUGIN_AUTH_BUSY', {}, { 'Retry-After': '1' });
  }
  if (!(await verify(entry, creds.password, dummy)) || !entry) {
    authFailures.inc({ plugin: 'basic-auth', route: ctx.route.id });
    return challenge(cfg);
  }
  verified.set(memo, true);
  authenticate(ctx, entry.consumer, cfg.hide_credentials ? 'authorization' : undefined);
  return undefined;
}

/** basic-auth: RFC 7617 user name and password, checked against hashed passwords. */
export const basicAuth: Plugin<BasicAuthConfig> = {
  name: 'basic-auth',
  version: '1.0.0',
  priority: 2520,
  schema: BasicAuthConfig,
  credentialSchema: BasicAuthCredential,
  phases: { rewrite },
  init: (services) => setServices(services),
};
