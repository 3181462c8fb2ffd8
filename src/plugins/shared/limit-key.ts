import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../contract.js';
import { header } from './headers.js';
import { inner } from './nested-map.js';

/** What a limiter counts by. A missing consumer or header falls back to the client IP (APISIX). */
export const KeyType = Type.Union([Type.Literal('consumer'), Type.Literal('ip'), Type.Literal('header'), Type.Literal('route')], {
  default: 'ip',
  description: 'count per consumer, client IP, header value or the whole route (default ip)',
});
export type KeyType = 'consumer' | 'ip' | 'header' | 'route';

export interface KeyConfig {
  key_type: KeyType;
  header?: string | undefined;
  group?: string | undefined;
}

/**
 * Keys that depend only on config objects (a route, a consumer), per scope: a key built afresh
 * is a new string that the counter map must hash again on every request.
 */
const stableKeys = new WeakMap<object, Map<string, string>>();

function stableKey(owner: object, scope: string, build: () => string): string {
  const byScope = inner(stableKeys, owner);
  let key = byScope.get(scope);
  if (key === undefined) {
    key = build();
    byScope.set(scope, key);
  }
  return key;
}

/** The counter's identity: scope (group or route id) + the request's key value. */
export function limitKey(ctx: RequestContext, cfg: KeyConfig): string {
  const scope = cfg.group ?? ctx.route.id;
  let value: string;
  switch (cfg.key_type) {
    case 'route':
      return stableKey(ctx.route, scope, () => `${scope}:`);
    case 'consumer': {
      const consumer = ctx.consumer;
      if (consumer) return stableKey(consumer, scope, () => keyOf(scope, `c:${consumer.username}`));
      value = `ip:${ctx.clientIp}`;
      break;
    }
    case 'header': {
      const h = cfg.header ? header(ctx.req, cfg.header) : undefined;
      value = h ? `h:${h}` : `ip:${ctx.clientIp}`;
      break;
    }
    default:
      value = `ip:${ctx.clientIp}`;
  }
  return keyOf(scope, value);
}

function keyOf(scope: string, value: string): string {
  // Client-chosen values (headers) are hashed so a key stays short and has no Redis-special bytes.
  if (value.length > 64) return `${scope}:x:${createHash('sha1').update(value).digest('base64url')}`;
  return `${scope}:${value}`;
}

export function keyCheck(cfg: KeyConfig): { field: string; reason: string } | undefined {
  if (cfg.key_type === 'header' && !cfg.header) return { field: 'header', reason: 'is required when key_type is "header"' };
  return undefined;
}
