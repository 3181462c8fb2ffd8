import { Type, type Static } from '@sinclair/typebox';
import { Pool } from 'undici';
import { Strict } from '../core/model/index.js';
import type { Plugin, RequestContext } from './contract.js';
import { mirrorResults } from './shared/metrics.js';

export const ProxyMirrorConfig = Strict({
  host: Type.String({ pattern: '^https?://[^/]+$', description: 'mirror target, scheme://host:port (required)' }),
  sample_ratio: Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'share of requests copied (default 1)' }),
  path: Type.Optional(Type.String({ pattern: '^/', description: 'path sent to the mirror instead of the upstream path' })),
  timeout_ms: Type.Integer({ minimum: 1, default: 2_000, description: 'mirror request deadline (ms, default 2000)' }),
  max_inflight: Type.Integer({ minimum: 1, default: 64, description: 'copies in flight per worker; more are dropped (default 64)' }),
});
export type ProxyMirrorConfig = Static<typeof ProxyMirrorConfig>;

const pools = new Map<string, Pool>();
let inflight = 0;

function poolFor(host: string): Pool {
  let p = pools.get(host);
  if (!p) {
    p = new Pool(host, { connections: 8, pipelining: 1 });
    pools.set(host, p);
  }
  return p;
}

const BODYLESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);

/**
 * Fire-and-forget copy. Nothing here is awaited by the request and every error is swallowed:
 * the mirror can be slow, down or wrong without the client noticing.
 */
function beforeProxy(ctx: RequestContext, cfg: ProxyMirrorConfig): undefined {
  if (cfg.sample_ratio < 1 && Math.random() >= cfg.sample_ratio) return undefined;
  const method = ctx.req.method ?? 'GET';
  // A streamed body goes to the upstream only; copied only when a plugin buffered it.
  if (!BODYLESS.has(method) && !ctx.requestBody) {
    mirrorResults.inc({ route: ctx.route.id, result: 'skipped' });
    return undefined;
  }
  if (inflight >= cfg.max_inflight) {
    mirrorResults.inc({ route: ctx.route.id, result: 'dropped' });
    return undefined;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.req.headers)) if (typeof v === 'string' && k !== 'connection' && k !== 'content-length' && k !== 'transfer-encoding') headers[k] = v;
  for (const [k, v] of Object.entries(ctx.upstreamHeaders)) {
    if (v === null) delete headers[k.toLowerCase()];
    else headers[k.toLowerCase()] = v;
  }
  headers['x-meridian-mirror'] = '1';
  const url = ctx.req.url ?? '/';
  const q = url.indexOf('?');
  const path = (cfg.path ?? ctx.upstreamPath) + (q >= 0 ? url.slice(q) : '');
  inflight++;
  const route = ctx.route.id;
  poolFor(cfg.host)
    .request({ method: method as 'GET', path, headers, body: BODYLESS.has(method) ? null : (ctx.requestBody ?? null), headersTimeout: cfg.timeout_ms, bodyTimeout: cfg.timeout_ms })
    .then(
      async (r) => {
        await r.body.dump();
        mirrorResults.inc({ route, result: 'sent' });
      },
      () => mirrorResults.inc({ route, result: 'failed' }),
    )
    .finally(() => {
      inflight--;
    });
  return undefined;
}

/** proxy-mirror: copies a share of requests to a second upstream; the client never waits for it. */
export const proxyMirror: Plugin<ProxyMirrorConfig> = {
  name: 'proxy-mirror',
  version: '1.0.0',
  priority: 1010,
  schema: ProxyMirrorConfig,
  phases: { before_proxy: beforeProxy },
  close: async () => {
    const all = [...pools.values()];
    pools.clear();
    await Promise.all(all.map((p) => p.destroy()));
  },
};
