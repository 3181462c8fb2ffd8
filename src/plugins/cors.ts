import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { header } from './shared/headers.js';

export const CorsConfig = Strict({
  allow_origins: Type.Array(Type.String({ pattern: '^(\\*|https?://[^/]+)$' }), { minItems: 1, default: ['*'], description: 'origins allowed, or "*" (default ["*"])' }),
  allow_methods: Type.Array(Type.String({ pattern: '^[A-Z]+$' }), { minItems: 1, default: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], description: 'methods allowed (default all common ones)' }),
  allow_headers: Type.Array(Type.String({ minLength: 1 }), { default: ['*'], description: 'request headers allowed, "*" = whatever the browser asks (default ["*"])' }),
  expose_headers: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'response headers the page may read (default [])' }),
  max_age: Type.Integer({ minimum: -1, default: 5, description: 'seconds a preflight may be cached; -1 = header not sent (default 5)' }),
  allow_credential: Type.Boolean({ default: false, description: 'allow cookies/credentials; needs explicit origins (default false)' }),
});
export type CorsConfig = Static<typeof CorsConfig>;

function allowedOrigin(origin: string, cfg: CorsConfig): string | undefined {
  if (cfg.allow_origins.includes('*')) return '*';
  return cfg.allow_origins.includes(origin) ? origin : undefined;
}

function rewrite(ctx: RequestContext, cfg: CorsConfig): ShortCircuit | undefined {
  const origin = header(ctx.req, 'origin');
  if (!origin) return undefined;
  const allowed = allowedOrigin(origin, cfg);
  // A refused origin gets no CORS headers: the browser then blocks the page from reading.
  if (!allowed) return undefined;
  const h = ctx.responseHeaders;
  h['Access-Control-Allow-Origin'] = allowed;
  if (allowed !== '*') h.Vary = 'Origin';
  if (cfg.allow_credential) h['Access-Control-Allow-Credentials'] = 'true';
  if (cfg.expose_headers.length > 0) h['Access-Control-Expose-Headers'] = cfg.expose_headers.join(', ');
  const preflightMethod = header(ctx.req, 'access-control-request-method');
  if (ctx.req.method !== 'OPTIONS' || !preflightMethod) return undefined;
  // Preflight: answered here, never proxied, before any auth (browsers send no credentials).
  const headers: Record<string, string> = {
    'Access-Control-Allow-Origin': allowed,
    'Access-Control-Allow-Methods': cfg.allow_methods.join(', '),
  };
  if (allowed !== '*') headers.Vary = 'Origin';
  if (cfg.allow_credential) headers['Access-Control-Allow-Credentials'] = 'true';
  const asked = header(ctx.req, 'access-control-request-headers');
  if (cfg.allow_headers.includes('*')) {
    if (asked) headers['Access-Control-Allow-Headers'] = asked;
  } else headers['Access-Control-Allow-Headers'] = cfg.allow_headers.join(', ');
  if (cfg.max_age >= 0) headers['Access-Control-Max-Age'] = String(cfg.max_age);
  return { status: 204, headers };
}

/** cors: answers preflights and adds CORS headers for allowed origins. */
export const cors: Plugin<CorsConfig> = {
  name: 'cors',
  version: '1.0.0',
  priority: 4000,
  schema: CorsConfig,
  check: (cfg) => (cfg.allow_credential && cfg.allow_origins.includes('*') ? { field: 'allow_origins', reason: '"*" cannot be used with allow_credential: list the origins' } : undefined),
  phases: { rewrite },
};
