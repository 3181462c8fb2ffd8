import { createHash, timingSafeEqual } from 'node:crypto';
import type { Consumer } from '../../core/model/index.js';
import type { RequestContext } from '../contract.js';
import { check } from '../../core/validate.js';
import type { TSchema, Static } from '@sinclair/typebox';
import { getServices } from './services.js';
import { CONSUMER_HEADER } from '../../core/identity-headers.js';

// Defined with the other identity headers, which the gateway strips from client requests.
export { CONSUMER_HEADER };

/**
 * Marks the request as the consumer's: the chain merges the consumer's plugins for access and
 * before_proxy, and the upstream learns who it is. The header is always overwritten so a
 * client cannot claim an identity by sending it.
 */
export function authenticate(ctx: RequestContext, consumer: Consumer, hideHeader?: string): void {
  ctx.consumer = consumer;
  ctx.upstreamHeaders[CONSUMER_HEADER] = consumer.username;
  if (hideHeader) ctx.upstreamHeaders[hideHeader] = null;
}

const SIGNED = 'hmac-auth:signed';

/** The headers a request signature covered (lower case; `request-line` for the request line). */
export function setSignedHeaders(ctx: RequestContext, headers: readonly string[]): void {
  ctx.vars.set(SIGNED, headers);
}

/** Set when a signature authenticated the request: what it covered (anti-replay checks its headers are among them). */
export function signedHeaders(ctx: RequestContext): readonly string[] | undefined {
  return ctx.vars.get(SIGNED) as readonly string[] | undefined;
}

/**
 * Whether a list of signed (or enforced) header names covers `name`. `date` stands for the
 * request's date, which a client sends as X-Date or Date (hmac-auth checks the one it sends).
 */
export function coversHeader(signed: readonly string[], name: string): boolean {
  const n = name.toLowerCase();
  if (n === 'date') return signed.includes('date') || signed.includes('x-date');
  return signed.includes(n);
}

export function sha256hex(s: string | Buffer): string {
  return createHash('sha256').update(s).digest('hex');
}

/** Constant-time comparison of two strings (lengths may differ: compares digests). */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/**
 * Each consumer's credential for one plugin, validated against its credential schema. An
 * invalid credential is left out with a warning instead of failing every request: the
 * controller validates consumers before they reach a gateway.
 */
export function credentials<S extends TSchema>(plugin: string, schema: S, consumers: readonly Consumer[]): Array<{ consumer: Consumer; cred: Static<S> }> {
  const out: Array<{ consumer: Consumer; cred: Static<S> }> = [];
  for (const consumer of consumers) {
    const raw = consumer.plugins?.[plugin];
    if (raw === undefined) continue;
    const r = check(schema, raw, plugin);
    if (!r.ok) {
      getServices().log.warn({ plugin, consumer: consumer.username, field: r.field, reason: r.reason }, 'consumer credential ignored');
      continue;
    }
    out.push({ consumer, cred: r.value });
  }
  return out;
}
