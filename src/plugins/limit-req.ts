import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { KeyType, keyCheck, limitKey } from './shared/limit-key.js';
import { Lru } from './shared/lru.js';
import { limitRejected } from './shared/metrics.js';
import { deny } from './shared/respond.js';

export const LimitReqConfig = Strict({
  rate: Type.Number({ exclusiveMinimum: 0, description: 'requests per second refilled (required)' }),
  burst: Type.Integer({ minimum: 0, default: 0, description: 'requests above the rate a client may send at once (default 0)' }),
  delay: Type.Boolean({ default: false, description: 'wait for a token (at most burst/rate seconds) instead of rejecting while within the burst (default false)' }),
  key_type: KeyType,
  header: Type.Optional(Type.String({ minLength: 1 })),
  group: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]+$' })),
});
export type LimitReqConfig = Static<typeof LimitReqConfig>;

interface Bucket {
  tokens: number;
  at: number;
}
const buckets = new Lru<string, Bucket>(100_000);

/**
 * Token bucket per key in this worker (the leaky bucket of nginx limit_req): capacity burst+1,
 * refilled at `rate` per second. With delay, a request may borrow up to `burst` tokens ahead
 * and waits until they exist; without, only whole tokens in the bucket admit a request.
 */
export function take(key: string, cfg: LimitReqConfig, now = performance.now()): { ok: boolean; waitMs: number } {
  const cap = cfg.burst + 1;
  let b = buckets.get(key);
  if (!b) {
    b = { tokens: cap, at: now };
    buckets.set(key, b);
  }
  b.tokens = Math.min(cap, b.tokens + ((now - b.at) / 1000) * cfg.rate);
  b.at = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return { ok: true, waitMs: 0 };
  }
  if (cfg.delay && b.tokens - 1 >= -cfg.burst) {
    b.tokens -= 1;
    return { ok: true, waitMs: (-b.tokens / cfg.rate) * 1000 };
  }
  return { ok: false, waitMs: ((1 - b.tokens) / cfg.rate) * 1000 };
}

async function access(ctx: RequestContext, cfg: LimitReqConfig): Promise<ShortCircuit | undefined> {
  const r = take(limitKey(ctx, cfg), cfg);
  if (r.ok) {
    if (r.waitMs > 0) await new Promise((res) => setTimeout(res, r.waitMs));
    return undefined;
  }
  limitRejected.inc({ plugin: 'limit-req', route: ctx.route.id });
  return deny('MERIDIAN_ERR_PLUGIN_RATE_LIMITED', {}, { 'Retry-After': String(Math.max(1, Math.ceil(r.waitMs / 1000))) });
}

/** limit-req: request rate per key, token bucket with burst, per worker. */
export const limitReq: Plugin<LimitReqConfig> = {
  name: 'limit-req',
  version: '1.0.0',
  priority: 1001,
  schema: LimitReqConfig,
  check: keyCheck,
  phases: { access },
  close: () => buckets.clear(),
};
