import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { Logger } from '../core/logger.js';
import { settle, type CompiledChain, type GatewayRequest, type GatewayResponse, type RequestContext, type ShortCircuit } from '../plugins/index.js';
import { BodyLimit } from '../proxy/body-limit.js';
import { Exchange, applyHeaderEdits, sendShortCircuit, type ExchangeEnv } from '../proxy/exchange.js';
import { alignPluginView, scanRequestHeaders, type ClientHeaders } from '../proxy/headers.js';
import { sendError } from '../proxy/respond.js';
import type { CompiledRoute } from '../proxy/types.js';
import { normaliseTarget } from '../router/normalize.js';
import type { RuntimeUpstream } from '../upstream/runtime.js';
import type { Runtime } from './build.js';
import { EngineIncoming } from './engine-adapter.js';
import type { GatewayMetrics } from './metrics.js';
import { NONE } from './metrics.js';
import { chooseUpstream, hashKeyOf } from './upstream-choice.js';

/** The worker state a request reads: the current generation (one reference, swapped whole). */
export interface WorkerContext extends ExchangeEnv {
  runtime: Runtime | undefined;
  draining: boolean;
  readonly maxHeaders: number;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  nextRequestId(): string;
}

/** Request ids: a per-worker random prefix and a counter (unique, no crypto per request). */
export function requestIdSource(): () => string {
  const prefix = `${Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, '0')}-`;
  let seq = 0;
  return () => prefix + (seq++).toString(36);
}

/** The public request handler of one listener (`proto` is what X-Forwarded-Proto says). */
export function createRequestHandler(w: WorkerContext, proto: 'http' | 'https'): (req: GatewayRequest, res: GatewayResponse) => void {
  return function onRequest(req, res) {
    const startedAt = performance.now();
    const raw = req.rawHeaders;
    const h = scanRequestHeaders(raw, req.httpVersionMinor === 1 && req.httpVersionMajor === 1);
    const requestId = h.requestId ?? w.nextRequestId();
    const rt = w.runtime;
    const method = req.method as string;
    if (raw.length > w.maxHeaders * 2) {
      reply(w, res, w.metrics.noRoute.route, 'MERIDIAN_ERR_GATEWAY_HEADERS_TOO_LARGE', { reason: `more than ${w.maxHeaders} headers` }, requestId, startedAt, true);
      return;
    }
    // Two Hosts, two framings, no Host on HTTP/1.1: refused before anything reads them.
    if (h.invalid !== undefined) {
      reply(w, res, NONE, 'MERIDIAN_ERR_GATEWAY_BAD_REQUEST', { reason: h.invalid }, requestId, startedAt, true);
      return;
    }
    // An Upgrade with a body (the engine serves it as a plain request): refused as on the upgrade path.
    if (h.upgrade !== undefined && (h.transferEncoding !== undefined || (h.contentLength !== undefined && h.contentLength !== '0')) && h.connection !== undefined && /(^|[\s,])upgrade($|[\s,])/i.test(h.connection)) {
      reply(w, res, NONE, 'MERIDIAN_ERR_GATEWAY_BAD_REQUEST', { reason: 'upgrade request with a body' }, requestId, startedAt, true);
      return;
    }
    const target = normaliseTarget(req.url as string);
    if (target === undefined) {
      reply(w, res, NONE, 'MERIDIAN_ERR_GATEWAY_BAD_REQUEST', { reason: 'invalid request path' }, requestId, startedAt, true);
      return;
    }
    const match = rt?.router.find(method, h.host, target.path, req, target.query);
    if (match === undefined) {
      reply(w, res, NONE, 'MERIDIAN_ERR_GATEWAY_NO_ROUTE', { method, host: h.host ?? '', path: target.path }, requestId, startedAt, false);
      return;
    }
    const route = match.value;
    if (route.maxBody !== undefined && h.contentLength !== undefined && Number(h.contentLength) > route.maxBody) {
      reply(w, res, route.id, 'MERIDIAN_ERR_GATEWAY_BODY_TOO_LARGE', { limit: route.maxBody }, requestId, startedAt, true, route);
      return;
    }
    const hasBody = h.transferEncoding !== undefined || (h.contentLength !== undefined && h.contentLength !== '0');
    let body: Readable | null = null;
    if (hasBody) {
      const stream = bodyStream(req);
      body = route.maxBody !== undefined && h.contentLength === undefined ? stream.pipe(new BodyLimit(route.maxBody)) : stream;
    }
    let path = target.path;
    if (route.stripPrefix !== undefined && path.startsWith(route.stripPrefix)) path = path.slice(route.stripPrefix.length) || '/';
    if (route.rewritePath !== undefined) path = route.rewritePath;
    const clientIp = req.socket.remoteAddress ?? '';
    const upstream = chooseUpstream(route, req, target.query);
    const out = h.out;
    out.push('x-forwarded-for', h.forwardedFor === undefined ? clientIp : `${h.forwardedFor}, ${clientIp}`, 'x-forwarded-proto', proto, 'x-request-id', requestId);
    if (h.host !== undefined) out.push('x-forwarded-host', h.host);
    if (route.chain.empty) {
      if (upstream === undefined) {
        reply(w, res, route.id, 'MERIDIAN_ERR_GATEWAY_NO_UPSTREAM', { route: route.id }, requestId, startedAt, false, route);
        return;
      }
      const hostIndex = pushHost(out, upstream, h);
      new Exchange(w, req, res, route, upstream, method, path + target.query, out, hostIndex, body, hashKeyOf(upstream, req, clientIp, target.path + target.query), requestId, startedAt, undefined).start();
      return;
    }
    withPlugins(w, req, res, route, upstream, h, method, path, target.path, target.query, body, clientIp, requestId, startedAt);
  };
}

/** The request's body stream: the engine's Readable; node's request (HTTP/2) is its own body. */
function bodyStream(req: GatewayRequest): Readable {
  return req instanceof EngineIncoming ? req.body : (req as unknown as Readable);
}

/** Host header upstream per pass_host; returns its value's index (rewritten per node for `node`). */
function pushHost(out: string[], upstream: RuntimeUpstream, h: ClientHeaders): number {
  const value = upstream.passHost === 'rewrite' ? (upstream.upstreamHost as string) : upstream.passHost === 'node' ? '' : (h.host ?? '');
  out.push('host', value);
  return out.length - 1;
}

function reply(w: WorkerContext, res: GatewayResponse, routeLabel: string, code: string, params: Record<string, string | number>, requestId: string, startedAt: number, close: boolean, route?: CompiledRoute): void {
  const status = sendError(res, code, params, requestId, close || w.draining);
  (route?.metrics ?? w.metrics.route(routeLabel)).observe(route?.upstream?.id ?? NONE, status, (performance.now() - startedAt) / 1000);
}

/** The slower path of routes with plugins: a RequestContext, the request phases, then the proxy. */
function withPlugins(
  w: WorkerContext,
  req: GatewayRequest,
  res: GatewayResponse,
  route: CompiledRoute,
  upstream: RuntimeUpstream | undefined,
  h: ClientHeaders,
  method: string,
  upstreamPath: string,
  path: string,
  query: string,
  body: Readable | null,
  clientIp: string,
  requestId: string,
  startedAt: number,
): void {
  const ctx: RequestContext = {
    req,
    res,
    requestId,
    clientIp,
    path,
    route: route.spec,
    upstreamId: upstream?.id,
    consumer: undefined,
    upstreamHeaders: {},
    responseHeaders: {},
    upstreamPath,
    upstreamStatus: undefined,
    status: undefined,
    vars: new Map(),
    startedAt: Date.now(),
  };
  const logError = (name: string, err: unknown): void => w.logPluginError(name, err);
  alignPluginView(req, h);
  settle(
    () => route.chain.request(ctx),
    ({ chain, stop }) => {
      if (res.destroyed) return;
      if (stop) {
        void shortCircuit(w, res, route, chain, ctx, stop, startedAt, logError);
        return;
      }
      if (upstream === undefined) {
        ctx.status = sendError(res, 'MERIDIAN_ERR_GATEWAY_NO_UPSTREAM', { route: route.id }, requestId, w.draining);
        route.metrics.observe(NONE, ctx.status, (performance.now() - startedAt) / 1000);
        chain.log(ctx, logError);
        return;
      }
      const sent = upstreamBody(ctx, body, h.contentLength);
      if (typeof sent === 'number') {
        ctx.status = sendError(res, 'MERIDIAN_ERR_PLUGIN_BODY_TOO_LARGE', { limit: sent }, requestId, true);
        route.metrics.observe(upstream.id, ctx.status, (performance.now() - startedAt) / 1000);
        chain.log(ctx, logError);
        return;
      }
      const out = h.out;
      applyHeaderEdits(out, ctx.upstreamHeaders);
      const hostIndex = pushHost(out, upstream, h);
      new Exchange(w, req, res, route, upstream, method, ctx.upstreamPath + query, out, hostIndex, sent, hashKeyOf(upstream, req, clientIp, path + query), requestId, startedAt, { ctx, chain }).start();
    },
    (err: unknown) => {
      logError('request phases', err);
      ctx.status = sendError(res, 'MERIDIAN_ERR_PLUGIN_FAILED', { name: route.id, phase: 'request' }, requestId, w.draining);
      route.metrics.observe(upstream?.id ?? NONE, ctx.status, (performance.now() - startedAt) / 1000);
    },
  );
}

/**
 * The body sent upstream once the request phases ran: the buffer a plugin already read
 * (ctx.requestBody, hmac-auth's digest), else the stream, limited to ctx.maxRequestBody
 * (body-limit) when set. A number: the limit a body is known to exceed (answer 413 now).
 */
function upstreamBody(ctx: RequestContext, body: Readable | null, contentLength: string | undefined): Readable | Buffer | null | number {
  if (body === null) return null;
  const limit = ctx.maxRequestBody;
  const read = ctx.requestBody;
  if (read !== undefined) return limit !== undefined && read.length > limit ? limit : read;
  if (limit === undefined) return body;
  if (contentLength !== undefined) return Number(contentLength) > limit ? limit : body;
  // Chunked: counted while it streams; the exchange answers 413 when it passes the limit.
  const limited = new BodyLimit(limit, 'MERIDIAN_ERR_PLUGIN_BODY_TOO_LARGE');
  // Already the route's max_body_size stream: pipe() does not forward its error, the exchange must see it.
  if (body !== bodyStream(ctx.req)) body.once('error', (err) => limited.destroy(err));
  return body.pipe(limited);
}

async function shortCircuit(
  w: WorkerContext,
  res: GatewayResponse,
  route: CompiledRoute,
  chain: CompiledChain,
  ctx: RequestContext,
  stop: ShortCircuit,
  startedAt: number,
  logError: (name: string, err: unknown) => void,
): Promise<void> {
  ctx.status = stop.status;
  try {
    await chain.headerFilter(ctx);
  } catch (err) {
    logError('header_filter', err);
  }
  if (!res.destroyed) sendShortCircuit(res, ctx, stop, w.draining);
  route.metrics.observe(NONE, stop.status, (performance.now() - startedAt) / 1000);
  chain.log(ctx, logError);
}
