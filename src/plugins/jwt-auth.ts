import { createHmac, createPublicKey, verify as verifySig, type KeyObject } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Consumer } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { authenticate, credentials, safeEqual } from './shared/auth.js';
import { header, queryParam } from './shared/headers.js';
import { authFailures } from './shared/metrics.js';
import { unauthorized } from './shared/respond.js';
import { perSnapshot, setServices, getServices } from './shared/services.js';

export const JwtAuthConfig = Strict({
  header: Type.String({ minLength: 1, default: 'authorization', description: 'header with "Bearer <token>" (default authorization)' }),
  query: Type.String({ minLength: 1, default: 'jwt', description: 'query parameter tried next (default jwt)' }),
  cookie: Type.String({ minLength: 1, default: 'jwt', description: 'cookie tried last (default jwt)' }),
  key_claim: Type.String({ minLength: 1, default: 'key', description: 'payload claim naming the consumer credential (default key; Kong uses iss)' }),
  leeway_s: Type.Integer({ minimum: 0, default: 0, description: 'clock tolerance for exp and nbf, seconds (default 0)' }),
  require_exp: Type.Boolean({ default: false, description: 'refuse tokens without exp (default false)' }),
  hide_credentials: Type.Boolean({ default: false, description: 'remove the token header before proxying (default false)' }),
});
export type JwtAuthConfig = Static<typeof JwtAuthConfig>;

/**
 * A consumer's key: HS256 with a shared secret (cannot be stored hashed: it signs), RS256 and
 * ES256 with a PEM public key (nothing secret on the gateway).
 */
export const JwtAuthCredential = Strict({
  key: Type.String({ minLength: 1, description: 'value of the key claim that selects this credential' }),
  algorithm: Type.Union([Type.Literal('HS256'), Type.Literal('RS256'), Type.Literal('ES256')], { default: 'HS256' }),
  secret: Type.Optional(Type.String({ minLength: 16, description: 'HS256 secret' })),
  base64_secret: Type.Boolean({ default: false, description: 'secret is base64 (default false)' }),
  public_key: Type.Optional(Type.String({ minLength: 1, description: 'RS256/ES256 PEM public key' })),
});

type Verifier = { alg: 'HS256'; secret: Buffer } | { alg: 'RS256' | 'ES256'; key: KeyObject };

const index = perSnapshot((consumers) => {
  const byKey = new Map<string, { consumer: Consumer; verifier: Verifier }>();
  for (const { consumer, cred } of credentials('jwt-auth', JwtAuthCredential, consumers)) {
    try {
      if (cred.algorithm === 'HS256') {
        if (!cred.secret) throw new Error('HS256 needs secret');
        byKey.set(cred.key, { consumer, verifier: { alg: 'HS256', secret: Buffer.from(cred.secret, cred.base64_secret ? 'base64' : 'utf8') } });
      } else {
        if (!cred.public_key) throw new Error(`${cred.algorithm} needs public_key`);
        byKey.set(cred.key, { consumer, verifier: { alg: cred.algorithm, key: createPublicKey(cred.public_key) } });
      }
    } catch (err) {
      getServices().log.warn({ plugin: 'jwt-auth', consumer: consumer.username, err: (err as Error).message }, 'consumer credential ignored');
    }
  }
  return byKey;
});

function token(ctx: RequestContext, cfg: JwtAuthConfig): string | undefined {
  const h = header(ctx.req, cfg.header);
  if (h) return /^bearer\s+/i.test(h) ? h.replace(/^bearer\s+/i, '') : h;
  const q = queryParam(ctx.req, cfg.query);
  if (q) return q;
  const cookies = header(ctx.req, 'cookie');
  if (!cookies) return undefined;
  for (const part of cookies.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === cfg.cookie) return part.slice(i + 1).trim();
  }
  return undefined;
}

function json(seg: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function signatureOk(v: Verifier, signed: string, sig: string): boolean {
  const raw = Buffer.from(sig, 'base64url');
  if (v.alg === 'HS256') return safeEqual(createHmac('sha256', v.secret).update(signed).digest(), raw);
  // JWS ES256 signatures are r||s (IEEE P1363), not DER.
  return verifySig('sha256', Buffer.from(signed), v.alg === 'ES256' ? { key: v.key, dsaEncoding: 'ieee-p1363' } : v.key, raw);
}

/** The consumer a token proves, or undefined (never says why: the client only sees 401). */
export function verifyJwt(jwt: string, cfg: JwtAuthConfig, nowS = Date.now() / 1000): Consumer | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  const [h, p, s] = parts as [string, string, string];
  const head = json(h);
  const payload = json(p);
  if (!head || !payload) return undefined;
  const key = payload[cfg.key_claim];
  const entry = typeof key === 'string' ? index().get(key) : undefined;
  // The credential fixes the algorithm: a token cannot pick a weaker one (alg confusion, "none").
  if (!entry || head.alg !== entry.verifier.alg) return undefined;
  if (!signatureOk(entry.verifier, `${h}.${p}`, s)) return undefined;
  const { exp, nbf } = payload;
  if (exp !== undefined && (typeof exp !== 'number' || nowS > exp + cfg.leeway_s)) return undefined;
  if (exp === undefined && cfg.require_exp) return undefined;
  if (nbf !== undefined && (typeof nbf !== 'number' || nowS + cfg.leeway_s < nbf)) return undefined;
  return entry.consumer;
}

function rewrite(ctx: RequestContext, cfg: JwtAuthConfig): ShortCircuit | undefined {
  if (ctx.consumer) return undefined;
  const t = token(ctx, cfg);
  let consumer: Consumer | undefined;
  try {
    consumer = t ? verifyJwt(t, cfg) : undefined;
  } catch {
    consumer = undefined; // a malformed key or signature makes node:crypto throw: same 401
  }
  if (!consumer) {
    authFailures.inc({ plugin: 'jwt-auth', route: ctx.route.id });
    return unauthorized();
  }
  authenticate(ctx, consumer, cfg.hide_credentials ? cfg.header : undefined);
  return undefined;
}

/** jwt-auth: JWS tokens (HS256, RS256, ES256) with exp/nbf, keys per consumer. */
export const jwtAuth: Plugin<JwtAuthConfig> = {
  name: 'jwt-auth',
  version: '1.0.0',
  priority: 2510,
  schema: JwtAuthConfig,
  credentialSchema: JwtAuthCredential,
  phases: { rewrite },
  init: (services) => setServices(services),
};
