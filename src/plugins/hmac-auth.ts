import { createHash, createHmac } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Consumer } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { authenticate, coversHeader, credentials, safeEqual, setSignedHeaders } from './shared/auth.js';
import { readBody } from './shared/body.js';
import { header } from './shared/headers.js';
import { authFailures } from './shared/metrics.js';
import { unauthorized } from './shared/respond.js';
import { perSnapshot, setServices } from './shared/services.js';

const Algorithm = Type.Union([Type.Literal('hmac-sha1'), Type.Literal('hmac-sha256'), Type.Literal('hmac-sha384'), Type.Literal('hmac-sha512')]);
type Algorithm = Static<typeof Algorithm>;

export const HmacAuthConfig = Strict({
  clock_skew: Type.Integer({ minimum: 0, default: 300, description: 'largest difference between X-Date/Date and now, seconds; 0 = no check (default 300)' }),
  algorithms: Type.Array(Algorithm, { minItems: 1, uniqueItems: true, default: ['hmac-sha256', 'hmac-sha384', 'hmac-sha512'], description: 'accepted algorithms (default sha256, sha384, sha512; sha1 only if listed)' }),
  enforce_headers: Type.Array(Type.String({ minLength: 1 }), {
    default: ['request-line', 'date'],
    description:
      'headers that must be among the signed ones; `request-line` is the method, path and query, `date` is met by X-Date or Date (default [request-line, date]: a signature fits one method and path, for clock_skew)',
  }),
  validate_request_body: Type.Boolean({ default: false, description: 'require Digest: SHA-256=<base64 sha256 of the body> and check it (default false)' }),
  max_body_bytes: Type.Integer({ minimum: 0, default: 1_048_576, description: 'largest body read for the digest (default 1 MiB)' }),
  hide_credentials: Type.Boolean({ default: false, description: 'remove the Authorization header before proxying (default false)' }),
});
export type HmacAuthConfig = Static<typeof HmacAuthConfig>;

/** The shared secret cannot be stored hashed: the gateway must compute the same HMAC. */
export const HmacAuthCredential = Strict({
  username: Type.Optional(Type.String({ minLength: 1, description: 'the username="..." of the Authorization header (default: the consumer name)' })),
  secret: Type.String({ minLength: 16, description: 'shared secret' }),
});

const index = perSnapshot((consumers) => {
  const byUser = new Map<string, { consumer: Consumer; secret: string }>();
  for (const { consumer, cred } of credentials('hmac-auth', HmacAuthCredential, consumers)) {
    byUser.set(cred.username ?? consumer.username, { consumer, secret: cred.secret });
  }
  return byUser;
});

interface Params {
  username: string;
  algorithm: string;
  headers: string[];
  signature: string;
}

/** `hmac username="..", algorithm="..", headers="a b", signature=".."` (Kong's scheme). */
export function parseAuthorization(value: string | undefined): Params | undefined {
  if (!value || value.slice(0, 5).toLowerCase() !== 'hmac ') return undefined;
  const out = new Map<string, string>();
  const re = /\s*([a-zA-Z]+)="([^"]*)"\s*(,|$)/gy;
  re.lastIndex = 5;
  let m: RegExpExecArray | null;
  while (re.lastIndex < value.length && (m = re.exec(value)) !== null) out.set(m[1]!.toLowerCase(), m[2]!);
  const username = out.get('username');
  const algorithm = out.get('algorithm');
  const signature = out.get('signature');
  if (!username || !algorithm || !signature) return undefined;
  const headers = (out.get('headers') ?? 'date').toLowerCase().split(/\s+/).filter(Boolean);
  return { username, algorithm, headers, signature };
}

/** The string Kong signs: one `name: value` line per listed header; request-line is special. */
export function signingString(ctx: RequestContext, headers: readonly string[]): string | undefined {
  const lines: string[] = [];
  for (const h of headers) {
    if (h === 'request-line') {
      lines.push(`${ctx.req.method ?? 'GET'} ${ctx.req.url ?? '/'} HTTP/${ctx.req.httpVersion}`);
      continue;
    }
    const v = header(ctx.req, h);
    if (v === undefined) return undefined;
    lines.push(`${h}: ${v}`);
  }
  return lines.join('\n');
}

const DIGEST = { 'hmac-sha1': 'sha1', 'hmac-sha256': 'sha256', 'hmac-sha384': 'sha384', 'hmac-sha512': 'sha512' } as const;

function dateOk(ctx: RequestContext, p: Params, skew: number): boolean {
  const name = header(ctx.req, 'x-date') !== undefined ? 'x-date' : 'date';
  const value = header(ctx.req, name);
  // The date must be signed, or a captured request could be replayed with a fresh one.
  if (value === undefined || !p.headers.includes(name)) return false;
  if (skew === 0) return true;
  const t = Date.parse(value);
  return Number.isFinite(t) && Math.abs(Date.now() - t) <= skew * 1000;
}

async function bodyOk(ctx: RequestContext, cfg: HmacAuthConfig, p: Params): Promise<boolean> {
  const digest = header(ctx.req, 'digest');
  if (!digest || !p.headers.includes('digest')) return false;
  const m = /^SHA-256=(.+)$/i.exec(digest.trim());
  if (!m) return false;
  const body = await readBody(ctx.req, cfg.max_body_bytes);
  if (!body) return false;
  ctx.requestBody = body;
  return safeEqual(createHash('sha256').update(body).digest('base64'), m[1]!);
}

async function rewrite(ctx: RequestContext, cfg: HmacAuthConfig): Promise<ShortCircuit | undefined> {
  if (ctx.consumer) return undefined;
  const p = parseAuthorization(header(ctx.req, 'authorization'));
  const entry = p ? index().get(p.username) : undefined;
  let ok = false;
  if (p && entry && (cfg.algorithms as string[]).includes(p.algorithm) && cfg.enforce_headers.every((h) => coversHeader(p.headers, h)) && dateOk(ctx, p, cfg.clock_skew)) {
    const toSign = signingString(ctx, p.headers);
    if (toSign !== undefined) {
      const expected = createHmac(DIGEST[p.algorithm as Algorithm], entry.secret).update(toSign).digest('base64');
      ok = safeEqual(expected, p.signature) && (!cfg.validate_request_body || (await bodyOk(ctx, cfg, p)));
    }
  }
  if (!ok || !entry || !p) {
    authFailures.inc({ plugin: 'hmac-auth', route: ctx.route.id });
    return unauthorized();
  }
  setSignedHeaders(ctx, p.headers);
  authenticate(ctx, entry.consumer, cfg.hide_credentials ? 'authorization' : undefined);
  return undefined;
}

/** hmac-auth: Kong-compatible HMAC signatures over chosen headers, with clock skew and body digest. */
export const hmacAuth: Plugin<HmacAuthConfig> = {
  name: 'hmac-auth',
  version: '1.0.0',
  priority: 2530,
  schema: HmacAuthConfig,
  credentialSchema: HmacAuthCredential,
  phases: { rewrite },
  init: (services) => setServices(services),
};
