import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * Which fields of a resource are secret, how they are shown to roles below admin, and how the
 * ones that need not be recovered are hashed. The controller (API answers, audit records,
 * hashing on write) and the auth plugins (hash formats on read) share this one module.
 */

/** What a secret is replaced with for roles below admin (and in audit records, for everyone). */
export const REDACTED = '<redacted: admin only>';

/**
 * Secret fields of a consumer's credential, per auth plugin. Every plugin with a
 * `credentialSchema` must have an entry here (test/core/secrets.test.ts checks it): a new auth
 * plugin cannot ship without saying which of its fields are secret. The hashes are listed too:
 * a password hash can be attacked offline, so roles below admin see none of them.
 */
export const CREDENTIAL_SECRETS: Readonly<Record<string, readonly string[]>> = {
  'key-auth': ['key', 'key_hash'],
  'basic-auth': ['password', 'password_hash'],
  'hmac-auth': ['secret'],
  'jwt-auth': ['secret', 'private_key'],
};

/** Secret top-level fields of other resource kinds. */
const RESOURCE_SECRETS: Readonly<Record<string, readonly string[]>> = {
  ssl: ['key'],
};

type Path = readonly string[];

/** The paths of the secret fields present in one resource value of `kind` (a kind name such as "consumers"). */
export function secretPaths(kind: string, value: unknown): Path[] {
  if (!isRecord(value)) return [];
  const out: Path[] = [];
  for (const field of RESOURCE_SECRETS[kind] ?? []) if (value[field] !== undefined) out.push([field]);
  if (kind === 'consumers' && isRecord(value.plugins)) {
    for (const [plugin, cred] of Object.entries(value.plugins)) {
      if (!isRecord(cred)) continue;
      for (const field of CREDENTIAL_SECRETS[plugin] ?? []) if (cred[field] !== undefined) out.push(['plugins', plugin, field]);
    }
  }
  return out;
}

/** A copy of `value` with every secret replaced by REDACTED (the value itself is left alone). */
export function redactSecrets<T>(kind: string, value: T): T {
  const paths = secretPaths(kind, value);
  if (paths.length === 0) return value;
  const copy = structuredClone(value) as unknown;
  for (const p of paths) setAt(copy, p, REDACTED);
  return copy as T;
}

/**
 * A value read with redacted secrets and written back keeps what is stored: each secret that
 * is exactly REDACTED takes the stored one. Returns the paths that had nothing stored to keep
 * (the caller refuses those: the marker must never be stored as a secret).
 */
export function restoreRedacted(kind: string, value: unknown, stored: unknown): { value: unknown; unresolved: string[] } {
  const paths = secretPaths(kind, value).filter((p) => getAt(value, p) === REDACTED);
  if (paths.length === 0) return { value, unresolved: [] };
  const copy = structuredClone(value);
  const unresolved: string[] = [];
  for (const p of paths) {
    const keep = getAt(stored, p);
    if (typeof keep === 'string' && keep !== REDACTED) setAt(copy, p, keep);
    else unresolved.push(p.join('.'));
  }
  return { value: copy, unresolved };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function getAt(value: unknown, path: Path): unknown {
  let cur = value;
  for (const k of path) cur = isRecord(cur) ? cur[k] : undefined;
  return cur;
}

function setAt(value: unknown, path: Path, v: unknown): void {
  let cur = value;
  for (const k of path.slice(0, -1)) cur = isRecord(cur) ? cur[k] : undefined;
  if (isRecord(cur)) cur[path[path.length - 1] as string] = v;
}

// --- Hashing ---------------------------------------------------------------------------------

/**
 * key-auth's `key_hash`: `sha256:<hex>` of the key. Keys are long random strings, so an
 * unsalted sha256 makes a leaked config useless and keeps the gateway's lookup one hash per request.
 */
export function hashKey(key: string): string {
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem?: number }) => Promise<Buffer>;

/** Cost of a new password hash: N=16384, r=8, p=1 (about 50 ms of CPU). */
export const SCRYPT_N = 16_384;

/** basic-auth's `password_hash`: `scrypt$N$r$p$<salt b64>$<hash b64>`. */
export async function hashPassword(password: string, N = SCRYPT_N): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, { N, r: 8, p: 1 });
  return `scrypt$${N}$8$1$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** The parts of a `scrypt$...` hash, or undefined if it is not one. */
export function parseScryptHash(encoded: string): { N: number; r: number; p: number; salt: Buffer; hash: Buffer } | undefined {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  return { N: Number(n), r: Number(r), p: Number(p), salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
}

/** Largest N verified: a hash written with a huge N would take gigabytes to check. */
const MAX_SCRYPT_N = 1 << 17;

/** Whether `password` is the one `encoded` (a `scrypt$...` hash) was made from; constant time. */
export async function verifyScrypt(encoded: string, password: string): Promise<boolean> {
  const v = parseScryptHash(encoded);
  if (!v || v.hash.length === 0 || !(v.N <= MAX_SCRYPT_N && v.r <= 32 && v.p <= 16)) return false;
  const got = await scrypt(password, v.salt, v.hash.length, { N: v.N, r: v.r, p: v.p, maxmem: 256 * v.N * v.r });
  return timingSafeEqual(got, v.hash);
}
