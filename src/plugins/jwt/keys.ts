import { createPublicKey, type webcrypto } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { importSPKI } from 'jose';
import { Strict } from '../../core/model/index.js';

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type HmacAlgorithm = (typeof HMAC_ALGORITHMS)[number];
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];
export type Algorithm = HmacAlgorithm | AsymmetricAlgorithm;

export const AsymmetricAlgorithmSchema = Type.Union(ASYMMETRIC_ALGORITHMS.map((a) => Type.Literal(a)));
const AlgorithmSchema = Type.Union([...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS].map((a) => Type.Literal(a)), {
  default: 'HS256',
  description: 'the one algorithm this credential accepts; a token naming another is refused (default HS256)',
});

/**
 * A consumer's key. The algorithm is pinned here, never taken from the token. Exactly one key
 * source fits the algorithm: `secret` for HS*, `public_key` or `jwks_url` for the others; a
 * credential with no key source only names the consumer for a route that has its own
 * `jwks_url`. `secret` is the one secret field (writeOnly: redacted when shown): it verifies,
 * so it cannot be stored hashed.
 */
export const JwtAuthCredential = Strict({
  key: Type.String({ minLength: 1, description: 'value of the key claim (config key_claim) that selects this credential' }),
  algorithm: AlgorithmSchema,
  secret: Type.Optional(Type.String({ minLength: 16, writeOnly: true, description: 'HS256/384/512 shared secret (secret: redacted when shown)' })),
  base64_secret: Type.Boolean({ default: false, description: 'secret is base64 (default false)' }),
  public_key: Type.Optional(Type.String({ minLength: 1, description: 'RS*/PS*/ES*/EdDSA PEM public key (SPKI)' })),
  jwks_url: Type.Optional(Type.String({ pattern: '^https?://', description: 'RS*/PS*/ES*/EdDSA: http(s) URL of a JWKS holding the key (chosen by the token kid)' })),
});
export type JwtAuthCredential = Static<typeof JwtAuthCredential>;

/** Fields of the credential that are secret (shown only to admins, redacted elsewhere). */
export const JWT_SECRET_FIELDS = ['secret'] as const;

/** Where a credential's key comes from, prepared once per config snapshot. */
export type KeySource =
  | { kind: 'static'; key: Promise<webcrypto.CryptoKey> }
  | { kind: 'jwks'; url: string }
  /** No key of its own: the consumer is only named by tokens verified with a route's JWKS. */
  | { kind: 'none' };

const HASH = { '256': 'SHA-256', '384': 'SHA-384', '512': 'SHA-512' } as const;
const CURVE: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

/** A key import awaited later, per request: its failure must not count as unhandled meanwhile. */
function settled(p: Promise<webcrypto.CryptoKey>): Promise<webcrypto.CryptoKey> {
  p.catch(() => undefined);
  return p;
}

/** The PEM's key type must fit the algorithm (checked here for a clear warning; jose checks again). */
function checkPem(pem: string, alg: AsymmetricAlgorithm): void {
  const k = createPublicKey(pem);
  const type = k.asymmetricKeyType;
  const ok =
    alg.startsWith('RS') ? type === 'rsa'
    : alg.startsWith('PS') ? type === 'rsa' || type === 'rsa-pss'
    : alg.startsWith('ES') ? type === 'ec' && k.asymmetricKeyDetails?.namedCurve === CURVE[alg]
    : type === 'ed25519';
  if (!ok) throw new Error(`public_key is a ${type ?? 'unknown'} key, not one for ${alg}`);
  const bits = k.asymmetricKeyDetails?.modulusLength;
  if (bits !== undefined && bits < 2048) throw new Error(`public_key is an RSA key of ${bits} bits; ${alg} needs at least 2048`);
}

/**
 * The key source of a valid credential, or an Error saying why the credential cannot verify.
 * Keys are imported once here (WebCrypto keys jose uses as they are), never per request.
 */
export function keySource(cred: JwtAuthCredential): KeySource | Error {
  const alg = cred.algorithm;
  const sources = [cred.secret, cred.public_key, cred.jwks_url].filter((s) => s !== undefined).length;
  if (sources > 1) return new Error('give one of secret, public_key, jwks_url');
  if ((HMAC_ALGORITHMS as readonly string[]).includes(alg)) {
    if (cred.public_key !== undefined || cred.jwks_url !== undefined) return new Error(`${alg} takes a secret, not a public key or JWKS (key confusion)`);
    if (cred.secret === undefined) return { kind: 'none' };
    const raw = Buffer.from(cred.secret, cred.base64_secret ? 'base64' : 'utf8');
    const hash = HASH[alg.slice(2) as keyof typeof HASH];
    return { kind: 'static', key: settled(crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash }, false, ['verify'])) };
  }
  if (cred.secret !== undefined) return new Error(`${alg} takes public_key or jwks_url, not a secret`);
  if (cred.jwks_url !== undefined) return { kind: 'jwks', url: cred.jwks_url };
  if (cred.public_key === undefined) return { kind: 'none' };
  try {
    checkPem(cred.public_key, alg as AsymmetricAlgorithm);
  } catch (err) {
    return err as Error;
  }
  return { kind: 'static', key: settled(importSPKI(cred.public_key, alg)) };
}
