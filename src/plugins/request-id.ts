import { randomBytes, randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import { isRequestId } from '../core/request-id.js';
import type { Plugin, RequestContext } from './contract.js';
import { header } from './shared/headers.js';

export const RequestIdConfig = Strict({
  header: Type.String({ minLength: 1, default: 'X-Request-Id', description: 'request id header, sent upstream and back (default X-Request-Id)' }),
  trust_incoming: Type.Boolean({ default: true, description: 'keep a client-sent id when it is well formed (default true)' }),
  traceparent: Type.Boolean({ default: true, description: 'propagate W3C traceparent, starting a trace when none (default true)' }),
  sample_ratio: Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'share of new traces flagged sampled (default 1)' }),
});
export type RequestIdConfig = Static<typeof RequestIdConfig>;

// W3C Trace Context: version-traceid-parentid-flags; all-zero ids are invalid.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TraceInfo {
  requestId: string;
  traceId: string;
  spanId: string;
  traceparent: string;
}

/** The gateway is one hop: it keeps the trace id and flags and becomes the parent span. */
export function nextTraceparent(incoming: string | undefined, sampleRatio: number): { traceId: string; spanId: string; value: string } {
  const spanId = randomBytes(8).toString('hex');
  const m = incoming ? TRACEPARENT.exec(incoming.trim().toLowerCase()) : null;
  if (m && m[1] !== 'ff' && !/^0+$/.test(m[2]!) && !/^0+$/.test(m[3]!)) {
    return { traceId: m[2]!, spanId, value: `00-${m[2]!}-${spanId}-${m[4]!}` };
  }
  const traceId = randomBytes(16).toString('hex');
  const flags = Math.random() < sampleRatio ? '01' : '00';
  return { traceId, spanId, value: `00-${traceId}-${spanId}-${flags}` };
}

function rewrite(ctx: RequestContext, cfg: RequestIdConfig): undefined {
  const incoming = cfg.trust_incoming ? header(ctx.req, cfg.header) : undefined;
  // The gateway's own id, unless it is the client's header taken as is (not trusted, or not a valid id).
  const own = isRequestId(ctx.requestId) && ctx.requestId !== header(ctx.req, 'x-request-id') ? ctx.requestId : randomUUID();
  const requestId = incoming && isRequestId(incoming) ? incoming : own;
  ctx.upstreamHeaders[cfg.header] = requestId;
  ctx.responseHeaders[cfg.header] = requestId;
  const info: Partial<TraceInfo> = { requestId };
  if (cfg.traceparent) {
    const t = nextTraceparent(header(ctx.req, 'traceparent'), cfg.sample_ratio);
    ctx.upstreamHeaders.traceparent = t.value;
    // tracestate travels unchanged with a kept trace; a new trace drops the stale one.
    if (t.traceId !== header(ctx.req, 'traceparent')?.slice(3, 35)) ctx.upstreamHeaders.tracestate = null;
    Object.assign(info, { traceId: t.traceId, spanId: t.spanId, traceparent: t.value });
  }
  ctx.vars.set('request-id', info);
  return undefined;
}

/** request-id: one id per request (kept from the client when valid) and W3C traceparent propagation. */
export const requestId: Plugin<RequestIdConfig> = {
  name: 'request-id',
  version: '1.0.0',
  priority: 12_015,
  schema: RequestIdConfig,
  phases: { rewrite },
};
