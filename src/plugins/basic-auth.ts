import { createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import { hashPassword } from '../core/secrets.js';
import type { Consumer } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { authenticate, credentials, safeEqual, sha256hex } from './shared/auth.js';
import { header } from './shared/headers.js';
import { Lru } from './shared/lru.js';
import { authFailures } from './shared/metrics.js';
import { unauthorized } from './shared/respond.js';
import { perSnapshot, setServices } from './shared/services.js';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number }) => Promise<Buffer>;

export const BasicAuthConfig = Strict({
  hide_credentials: Type.Boolean({ default: false, description: 'remove the Authorization header before proxying (default false)' }),
  realm: Type.String({ minLength: 1, default: 'meridian', description: 'realm named in WWW-Authenticate (default meridian)' }),
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

type Verifier = { kind: 'scrypt'; N: number; r: number; p: number; salt: Buffer; hash: Buffer } | { kind: 'sha256'; hex: string };

interface Entry {
  consumer: Consumer;
  verifier: Verifier;
}

function verifierOf(cred: Static<typeof BasicAuthCredential>): Verifier | undefined {
  if (cred.password_hash?.startsWith('scrypt$')) {
    const [, n, r, p, salt, hash] = cred.password_hash.split('$') as [string, string, string, string, string, string];
    return { kind: 'scrypt', N: Number(n), r: Number(r), p: Number(p), salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
  }
  if (cred.password_hash?.startsWith('sha256$')) return { kind: 'sha256', hex: cred.password_hash.slice(7) };
  if (cred.password !== undefined) return { kind: 'sha256', hex: sha256hex(cred.password) };
  return undefined;
}

const index = perSnapshot((consumers) => {
  const byUser = new Map<string, Entry>();
  for (const { consumer, cred } of credentials('basic-auth', BasicAuthCredential, consumers)) {
    const verifier = verifierOf(cred);
    if (verifier) byUser.set(cred.username, { consumer, verifier });
  }
  verified.clear();
  return byUser;
});

/**
 * scrypt costs ~50 ms of CPU on purpose; a verified (user, password) pair is remembered as an
 * HMAC under a key that never leaves this process, so a keep-alive client pays it once.
 */
const pepper = randomBytes(32);
const verified = new Lru<string, Consumer>(10_000);

async function verify(entry: Entry, password: string): Promise<boolean> {
  const v = entry.verifier;
  if (v.kind === 'sha256') return safeEqual(sha256hex(password), v.hex);
  const got = await scrypt(password, v.salt, v.hash.length, { N: v.N, r: v.r, p: v.p, maxmem: 256 * v.N * v.r } as { N: number; r: number; p: number });
  return got.length === v.hash.length && timingSafeEqual(got, v.hash);
}

function parse(value: string | undefined): { user: string; password: string } | undefined {
  if (!value || value.length < 7 || value.slice(0, 6).toLowerCase() !== 'basic ') return undefined;
  const decoded = Buffer.from(value.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i <= 0) return undefined;
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

async function rewrite(ctx: RequestContext, cfg: BasicAuthConfig): Promise<ShortCircuit | undefined> {
  if (ctx.consumer) return undefined;
  const creds = parse(header(ctx.req, 'authorization'));
  const entry = creds ? index().get(creds.user) : undefined;
  let consumer: Consumer | undefined;
  if (creds && entry) {
    const memo = createHmac('sha256', pepper).update(`${creds.user}\0${creds.password}`).digest('base64');
    consumer = verified.get(memo);
    if (!consumer && (await verify(entry, creds.password))) {
      consumer = entry.consumer;
      verified.set(memo, consumer);
    }
  }
  if (!consumer) {
    authFailures.inc({ plugin: 'basic-auth', route: ctx.route.id });
    const r = unauthorized();
    return { ...r, headers: { 'WWW-Authenticate': `Basic realm="${cfg.realm}"` } };
  }
  authenticate(ctx, consumer, cfg.hide_credentials ? 'authorization' : undefined);
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
