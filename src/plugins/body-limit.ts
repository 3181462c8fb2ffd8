import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { header } from './shared/headers.js';
import { deny } from './shared/respond.js';

export const BodyLimitConfig = Strict({
  max_bytes: Type.Integer({ minimum: 0, description: 'largest request body in bytes (required)' }),
});
export type BodyLimitConfig = Static<typeof BodyLimitConfig>;

function rewrite(ctx: RequestContext, cfg: BodyLimitConfig): ShortCircuit | undefined {
  const declared = header(ctx.req, 'content-length');
  if (declared !== undefined && Number(declared) > cfg.max_bytes) return deny('MERIDIAN_ERR_PLUGIN_BODY_TOO_LARGE', { limit: cfg.max_bytes });
  // A chunked body announces no size: the gateway counts while streaming and stops it at the limit.
  ctx.maxRequestBody = ctx.maxRequestBody === undefined ? cfg.max_bytes : Math.min(ctx.maxRequestBody, cfg.max_bytes);
  return undefined;
}

/** body-limit: 413 for request bodies larger than max_bytes on this route. */
export const bodyLimit: Plugin<BodyLimitConfig> = {
  name: 'body-limit',
  version: '1.0.0',
  priority: 2990,
  schema: BodyLimitConfig,
  // rewrite: refused before any auth plugin reads a body (hmac body digest).
  phases: { rewrite },
};
