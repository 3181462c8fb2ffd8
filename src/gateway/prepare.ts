import type { Readable } from 'node:stream';
import { isRequestId } from '../core/request-id.js';
import type { GatewayRequest } from '../plugins/index.js';
import { BodyLimit } from '../proxy/body-limit.js';
import { alignPluginView, scanRequestHeaders } from '../proxy/headers.js';
import type { ProxyRequest } from '../proxy/request.js';
import { normaliseTarget } from '../router/normalize.js';
import { EngineIncoming } from './engine-adapter.js';
import type { WorkerContext } from './handler.js';
import { chooseUpstream, hashKeyOf } from './upstream-choice.js';

const UPGRADE_TOKEN = /(^|[\s,])upgrade($|[\s,])/i;

/**
 * Everything a request goes through before its plugins and its upstream, plain request and
 * upgrade alike: one scan of the headers, the refusals (too many headers, ambiguous Host or
 * framing, an upgrade with a body, a bad path, no route, a body over max_body_size), the
 * route, the upstream (split), the forwarded headers, the body stream, the hash key, and the
 * plugins' context when the route has a chain. Returns false when the request was refused
 * (answered and finished).
 */
export function prepare(w: WorkerContext, x: ProxyRequest, proto: 'http' | 'https'): boolean {
  const req = x.req;
  const raw = req.rawHeaders;
  const h = scanRequestHeaders(raw, req.httpVersionMinor === 1 && req.httpVersionMajor === 1);
  x.clientHeaders = h;
  x.headers = h.out;
  // The engine's strict parser checked these names and values; what is added later is checked when sent.
  x.checkedHeaders = req instanceof EngineIncoming ? h.out.length : 0;
  x.requestId = h.requestId !== undefined && isRequestId(h.requestId) ? h.requestId : w.nextRequestId();
  if (raw.length > w.maxHeaders * 2) {
    x.refuse('MERIDIAN_ERR_GATEWAY_HEADERS_TOO_LARGE', { reason: `more than ${w.maxHeaders} headers` }, true);
    return false;
  }
  // Two Hosts, two framings, no Host on HTTP/1.1: refused before anything reads them.
  if (h.invalid !== undefined) {
    x.refuse('MERIDIAN_ERR_GATEWAY_BAD_REQUEST', { reason: h.invalid }, true);
    return false;
  }
  const hasBody = h.transferEncoding !== undefined || (h.contentLength !== undefined && h.contentLength !== '0');
  // A body on an upgrade would reach the upstream before it agreed to switch (the engine
  // serves an Upgrade with a body as a plain request: refused the same way).
  if (hasBody && (x.upgrading || (h.upgrade !== undefined && h.connection !== undefined && UPGRADE_TOKEN.test(h.connection)))) {
    x.refuse('MERIDIAN_ERR_GATEWAY_BAD_REQUEST', { reason: 'upgrade request with a body' }, true);
    return false;
  }
  const target = normaliseTarget(req.url ?? '');
  if (target === undefined) {
    x.refuse('MERIDIAN_ERR_GATEWAY_BAD_REQUEST', { reason: 'invalid request path' }, true);
    return false;
  }
  const match = w.runtime?.router.find(x.method, h.host, target.path, req, target.query);
  if (match === undefined) {
    x.refuse('MERIDIAN_ERR_GATEWAY_NO_ROUTE', { method: x.method, host: h.host ?? '', path: target.path });
    return false;
  }
  const route = match.value;
  x.route = route;
  let path = target.path;
  if (route.stripPrefix !== undefined && path.startsWith(route.stripPrefix)) path = path.slice(route.stripPrefix.length) || '/';
  if (route.rewritePath !== undefined) path = route.rewritePath;
  x.path = path + target.query;
  x.query = target.query;
  const clientIp = req.socket.remoteAddress ?? '';
  x.clientIp = clientIp;
  const upstream = chooseUpstream(route, req, target.query);
  x.upstream = upstream;
  // From here on the request is the route's: with plugins, their log phase sees how it ends.
  if (!route.chain.empty) {
    x.chain = route.chain;
    x.ctx = {
      req,
      res: x.pluginResponse(),
      requestId: x.requestId,
      clientIp,
      path: target.path,
      route: route.spec,
      upstreamId: upstream?.id,
      consumer: undefined,
      upstreamHeaders: {},
      responseHeaders: {},
      upstreamPath: path,
      upstreamStatus: undefined,
      status: undefined,
      vars: new Map(),
      startedAt: Date.now(),
    };
    // Before the hash key: a client's identity headers are gone from req.headers too.
    alignPluginView(req, h);
  } else if (upstream === undefined) {
    // A route with plugins may still be answered by one; without, there is nowhere to go.
    x.refuse('MERIDIAN_ERR_GATEWAY_NO_UPSTREAM', { route: route.id });
    return false;
  }
  if (route.maxBody !== undefined && h.contentLength !== undefined && Number(h.contentLength) > route.maxBody) {
    x.refuse('MERIDIAN_ERR_GATEWAY_BODY_TOO_LARGE', { limit: route.maxBody }, true);
    return false;
  }
  if (hasBody) {
    const stream = bodyStream(req);
    x.body = route.maxBody !== undefined && h.contentLength === undefined ? stream.pipe(new BodyLimit(route.maxBody)) : stream;
  }
  const out = h.out;
  out.push('x-forwarded-for', h.forwardedFor === undefined ? clientIp : `${h.forwardedFor}, ${clientIp}`, 'x-forwarded-proto', proto, 'x-request-id', x.requestId);
  if (h.host !== undefined) out.push('x-forwarded-host', h.host);
  if (upstream?.hashOn !== undefined) x.hashKey = hashKeyOf(upstream, req, clientIp, target.path + target.query);
  return true;
}

/** The request's body stream: the engine's Readable; node's request (HTTP/2) is its own body. */
function bodyStream(req: GatewayRequest): Readable {
  return req instanceof EngineIncoming ? req.body : (req as unknown as Readable);
}
