import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';

export const ResponseRewriteConfig = Strict({
  status_code: Type.Optional(Type.Integer({ minimum: 200, maximum: 599, description: 'status sent to the client instead of the upstream one' })),
  body: Type.Optional(Type.String({ description: 'body sent instead of the upstream one' })),
  headers: Type.Optional(Strict({
    set: Type.Record(Type.String(), Type.String(), { default: {}, description: 'headers set on the response' }),
    remove: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'headers removed from the response' }),
  })),
  statuses: Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { default: [], description: 'only rewrite these upstream statuses; empty = all (default [])' }),
});
export type ResponseRewriteConfig = Static<typeof ResponseRewriteConfig>;

function headerFilter(ctx: RequestContext, cfg: ResponseRewriteConfig): ShortCircuit | undefined {
  const status = ctx.upstreamStatus ?? ctx.status;
  if (cfg.statuses.length > 0 && (status === undefined || !cfg.statuses.includes(status))) return undefined;
  if (cfg.headers) {
    for (const h of cfg.headers.remove) ctx.responseHeaders[h] = null;
    Object.assign(ctx.responseHeaders, cfg.headers.set);
  }
  // Status or body replaced: the gateway sends this answer and drops the upstream body.
  if (cfg.body !== undefined || cfg.status_code !== undefined) {
    return { status: cfg.status_code ?? status ?? 200, body: cfg.body ?? '' };
  }
  return undefined;
}

/** response-rewrite: headers, status and body of the response to the client. */
export const responseRewrite: Plugin<ResponseRewriteConfig> = {
  name: 'response-rewrite',
  version: '1.0.0',
  priority: 899,
  schema: ResponseRewriteConfig,
  phases: { header_filter: headerFilter },
};
