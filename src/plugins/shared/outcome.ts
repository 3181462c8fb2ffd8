import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../contract.js';

export const FailureStatuses = Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), {
  default: [500, 502, 503, 504],
  description: 'upstream statuses that count as failures (default 500, 502, 503, 504)',
});

/**
 * What the upstream did with a request, from what the gateway recorded: 'unknown' when the
 * request never reached it (a plugin answered, or the client went away first).
 */
export function upstreamOutcome(ctx: RequestContext, failureStatuses: readonly number[]): 'success' | 'failure' | 'unknown' {
  if (ctx.upstreamError !== undefined) return 'failure';
  if (ctx.upstreamStatus === undefined) return 'unknown';
  return failureStatuses.includes(ctx.upstreamStatus) ? 'failure' : 'success';
}

/** The breakers' scope: the upstream, or the route when it has an inline upstream. */
export function upstreamKey(ctx: RequestContext): string {
  return ctx.upstreamId ?? `route:${ctx.route.id}`;
}
