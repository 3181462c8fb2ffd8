import { Type, type Static } from '@sinclair/typebox';
import { decodeJwt, jwtVerify, type JWTVerifyOptions } from 'jose';
import { Strict } from '../core/model/index.js';
import type { Consumer } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { authenticate, credentials } from './shared/auth.js';
import { header, queryParam } from './shared/headers.js';
import { authFailures } from './shared/metrics.js';
import { deny, unauthorized } from './shared/respond.js';
import { perSnapshot, setServices, getServices } from './shared/services.js';
import { JwksOptions, JwksUnavailable, clearKeySets, keySetFor } from './jwt/jwks.js';
import { forgetVerified, recall, remember, tokenId } from './jwt/verified.js';
import { AsymmetricAlgorithmSchema, JwtAuthCredential, keySource, type Algorithm, type KeySource } from './jwt/keys.js';

export { JwtAuthCredential, JWT_SECRET_FIELDS } from './jwt/keys.js';

const OneOrMore = (description: string) =>
  Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], { description }));

export const JwtAuthConfig = Strict({
  header: Type.String({ minLength: 1, default: 'authorization', description: 'header with "Bearer <token>" (default authorization)' }),
  query: Type.String({ minLength: 1, default: 'jwt', description: 'query parameter tried next (default jwt)' }),
  cookie: Type.String({ minLength: 1, default: 'jwt', description: 'cookie tried last (default jwt)' }),
  key_claim: Type.String({
    minLength: 1,
    default: 'key',
    description: 'claim whose value is the key of a consumer credential (default key; Kong uses iss; with jwks_url e.g. sub or azp, read after the signature is verified)',
  }),
  leeway_s: Type.Integer({ minimum: 0, maximum: 600, default: 60, description: 'clock skew tolerated on exp and nbf, seconds (default 60)' }),
  require_exp: Type.Boolean({ default: false, description: 'refuse tokens without exp (default false)' }),
  audience: OneOrMore('token aud must contain one of these (default: aud not checked)'),
  issuer: OneOrMore('token iss must be one of these (default: iss not checked)'),
  jwks_url: Type.Optional(
    Type.String({ pattern: '^https?://', description: "the route's JWKS (an identity provider's keys): tokens are verified with it, and key_claim then names the consumer" }),
  ),
  algorithms: Type.Array(AsymmetricAlgorithmSchema, {
    minItems: 1,
    uniqueItems: true,
    default: ['RS256'],
    description: 'algorithms accepted with the route jwks_url (default ["RS256"]); HS* never (a JWKS is public)',
  }),
  jwks: JwksOptions,
  cache_verified: Type.Boolean({
    default: true,
    description: 'remember verified tokens (SHA-256 of the token; 10,000 per worker) so a token sent again skips the signature check until its exp, a config change or a JWKS refresh (default true)',
  }),
  max_token_bytes: Type.Integer({ minimum: 256, maximum: 65_536, default: 8192, description: 'longer tokens are refused unread (default 8192)' }),
  hide_credentials: Type.Boolean({ default: false, description: 'remove the token header before proxying (default false)' }),
});
export type JwtAuthConfig = Static<typeof JwtAuthConfig>;

interface Entry {
  consumer: Consumer;
  algorithm: Algorithm;
  source: KeySource;
}

/** Credentials by key, keys imported once per config snapshot. */
const index = perSnapshot((consumers) => {
  const byKey = new Map<string, Entry>();
  for (const { consumer, cred } of credentials('jwt-auth', JwtAuthCredential, consumers)) {
    const source = keySource(cred);
    if (source instanceof Error) {
      getServices().log.warn({ plugin: 'jwt-auth', consumer: consumer.username, err: source.message }, 'consumer credential ignored');
      continue;
    }
    byKey.set(cred.key, { consumer, algorithm: cred.algorithm, source });
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

/**
 * The claims checks of a route, built once per config object. `crit` is left to jose: any
 * critical header it does not implement is refused (and `b64: false` is refused for JWTs).
 */
const claimChecks = new WeakMap<JwtAuthConfig, JWTVerifyOptions>();
function checksOf(cfg: JwtAuthConfig): JWTVerifyOptions {
  let o = claimChecks.get(cfg);
  if (o === undefined) {
    o = { clockTolerance: cfg.leeway_s };
    if (cfg.audience !== undefined) o.audience = cfg.audience;
    if (cfg.issuer !== undefined) o.issuer = cfg.issuer;
    if (cfg.require_exp) o.requiredClaims = ['exp'];
    claimChecks.set(cfg, o);
  }
  return o;
}

/**
 * The consumer a token proves, or undefined (never says why: the client only sees 401).
 * Throws JwksUnavailable when the keys to judge it were never fetched.
 */
export async function verifyJwt(jwt: string, cfg: JwtAuthConfig, currentDate?: Date): Promise<Consumer | undefined> {
  if (jwt.length > cfg.max_token_bytes) return undefined;
  const snapshot = index();
  const id = cfg.cache_verified ? tokenId(jwt) : undefined;
  if (id !== undefined) {
    const nowS = Math.floor((currentDate?.getTime() ?? Date.now()) / 1000);
    const known = recall(id, cfg, snapshot, nowS, cfg.leeway_s);
    if (known) return known;
  }
  const base = currentDate ? { ...checksOf(cfg), currentDate } : checksOf(cfg);
  try {
    if (cfg.jwks_url !== undefined) {
      // An identity provider's keys: verify first, then the verified claim names the consumer.
      const keys = keySetFor(cfg.jwks_url, cfg.jwks);
      const generation = keys.generation;
      const { payload } = await jwtVerify(jwt, keys.getKey, { ...base, algorithms: cfg.algorithms });
      const key = payload[cfg.key_claim];
      const consumer = typeof key === 'string' ? snapshot.get(key)?.consumer : undefined;
      if (consumer && id !== undefined) remember(id, { cfg, snapshot, keys, generation, consumer, exp: payload.exp, nbf: payload.nbf });
      return consumer;
    }
    // Keys per consumer: the (unverified) claim picks the credential, whose key and pinned
    // algorithm then judge the token; a token cannot choose `none` or another algorithm.
    const key = decodeJwt(jwt)[cfg.key_claim];
    const entry = typeof key === 'string' ? snapshot.get(key) : undefined;
    if (entry === undefined || entry.source.kind === 'none') return undefined;
    const { source, consumer } = entry;
    const keys = source.kind === 'jwks' ? keySetFor(source.url, cfg.jwks) : undefined;
    const generation = keys?.generation ?? 0;
    const verifyKey = source.kind === 'static' ? await source.key : keySetFor(source.url, cfg.jwks).getKey;
    const { payload } = await jwtVerify(jwt, verifyKey, { ...base, algorithms: [entry.algorithm] });
    if (id !== undefined) remember(id, { cfg, snapshot, keys, generation, consumer, exp: payload.exp, nbf: payload.nbf });
    return consumer;
  } catch (err) {
    if (err instanceof JwksUnavailable) throw err;
    return undefined; // malformed, bad signature, wrong alg/aud/iss, expired, unknown crit...
  }
}

async function rewrite(ctx: RequestContext, cfg: JwtAuthConfig): Promise<ShortCircuit | undefined> {
  if (ctx.consumer) return undefined;
  const t = token(ctx, cfg);
  let consumer: Consumer | undefined;
  try {
    consumer = t ? await verifyJwt(t, cfg) : undefined;
  } catch (err) {
    if (!(err instanceof JwksUnavailable)) throw err;
    return deny('MERIDIAN_ERR_PLUGIN_JWKS_UNAVAILABLE', {}, { 'retry-after': String(err.retryAfterS) });
  }
  if (!consumer) {
    authFailures.inc({ plugin: 'jwt-auth', route: ctx.route.id });
    return unauthorized();
  }
  authenticate(ctx, consumer, cfg.hide_credentials ? cfg.header : undefined);
  return undefined;
}

/**
 * jwt-auth: JWS tokens verified by jose (HS/RS/PS/ES 256-512, EdDSA), algorithm pinned per
 * credential, keys per consumer (secret, PEM, JWKS) or per route (JWKS), aud/iss/exp/nbf/crit.
 */
export const jwtAuth: Plugin<JwtAuthConfig> = {
  name: 'jwt-auth',
  version: '2.0.0',
  priority: 2510,
  schema: JwtAuthConfig,
  credentialSchema: JwtAuthCredential,
  phases: { rewrite },
  init: (services) => setServices(services),
  close: () => {
    clearKeySets();
    forgetVerified();
  },
};
