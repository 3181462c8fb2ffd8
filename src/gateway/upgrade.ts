import type { Duplex } from 'node:stream';
import { settle, type GatewayRequest, type RequestContext } from '../plugins/index.js';
import { applyHeaderEdits, sendShortCircuit } from '../proxy/exchange.js';
import { alignPluginView, scanRequestHeaders } from '../proxy/headers.js';
import { lingerClose, responseOnSocket, tunnel, writeRaw, type TunnelClient } from '../proxy/websocket.js';
import { normaliseTarget } from '../router/normalize.js';
import type { WorkerContext } from './handler.js';
import { NONE } from './metrics.js';
import { chooseUpstream, hashKeyOf } from './upstream-choice.js';

export interface UpgradeLimits {
  /** Cap of an upstream's answer head (the listener's max header bytes). */
  readonly maxHeadBytes: number;
}

/**
 * Upgrade requests (WebSocket): checked, routed and split like any request, plugins' request
 * phases run (so an auth plugin guards a socket as it guards a request), then the upstream
 * is asked; only its 101 makes the connection a tunnel (src/proxy/websocket.ts).
 */
export function createUpgradeHandler(w: WorkerContext, proto: 'http' | 'https', limits: UpgradeLimits): (req: GatewayRequest, socket: Duplex, head: Buffer) => void {
  return function onUpgrade(req, socket, head) {
    const startedAt = performance.now();
    socket.on('error', () => socket.destroy());
    const h = scanRequestHeaders(req.rawHeaders, req.httpVersionMinor === 1 && req.httpVersionMajor === 1);
    const requestId = h.requestId ?? w.nextRequestId();
    const target = normaliseTarget(req.url ?? '');
    const done = (routeId: string, upstream: string, status: number): void => w.metrics.route(routeId).observe(upstream, status, (performance.now() - startedAt) / 1000);
    // A body on an upgrade would reach the upstream before it agreed to switch: refused too.
    const invalid = h.invalid ?? (target === undefined ? 'invalid request path' : h.transferEncoding !== undefined || (h.contentLength !== undefined && h.contentLength !== '0') ? 'upgrade request with a body' : undefined);
    if (invalid !== undefined || target === undefined) {
      done(NONE, NONE, writeRaw(socket, 'MERIDIAN_ERR_GATEWAY_BAD_REQUEST', { reason: invalid ?? 'invalid request path' }, requestId));
      return;
    }
    const method = req.method ?? 'GET';
    const match = w.runtime?.router.find(method, h.host, target.path, req, target.query);
    if (!match) {
      done(NONE, NONE, writeRaw(socket, 'MERIDIAN_ERR_GATEWAY_NO_ROUTE', { method, host: h.host ?? '', path: target.path }, requestId));
      return;
    }
    const route = match.value;
    const upstream = chooseUpstream(route, req, target.query);
    if (!upstream) {
      done(route.id, NONE, writeRaw(socket, 'MERIDIAN_ERR_GATEWAY_NO_UPSTREAM', { route: route.id }, requestId));
      return;
    }
    let path = target.path;
    if (route.stripPrefix !== undefined && path.startsWith(route.stripPrefix)) path = path.slice(route.stripPrefix.length) || '/';
    if (route.rewritePath !== undefined) path = route.rewritePath;
    const clientIp = req.socket.remoteAddress ?? '';
    const out = h.out;
    out.push('x-forwarded-for', h.forwardedFor === undefined ? clientIp : `${h.forwardedFor}, ${clientIp}`, 'x-forwarded-proto', proto, 'x-request-id', requestId);
    if (h.host !== undefined) out.push('x-forwarded-host', h.host);
    const client: TunnelClient = { req, socket, head };
    const go = (upstreamPath: string): void => {
      out.push('host', upstream.passHost === 'rewrite' ? (upstream.upstreamHost as string) : (h.host ?? ''));
      tunnel(
        {
          upstream,
          method,
          path: upstreamPath + target.query,
          headers: out,
          hostIndex: out.length - 1,
          upgrade: h.upgrade ?? 'websocket',
          hashKey: hashKeyOf(upstream, req, clientIp, target.path + target.query),
          https: upstream.spec.scheme === 'https',
          maxHeadBytes: limits.maxHeadBytes,
          readTimeoutMs: route.readTimeout ?? upstream.timeouts.read,
          requestId,
        },
        client,
        (status) => done(route.id, upstream.id, status),
      );
    };
    if (route.chain.empty) {
      go(path);
      return;
    }
    const res = responseOnSocket(req, socket);
    const ctx: RequestContext = {
      req, res, requestId, clientIp, path: target.path, route: route.spec, upstreamId: upstream.id, consumer: undefined,
      upstreamHeaders: {}, responseHeaders: {}, upstreamPath: path, upstreamStatus: undefined, status: undefined, vars: new Map(), startedAt: Date.now(),
    };
    alignPluginView(req, h);
    settle(
      () => route.chain.request(ctx),
      ({ chain, stop }) => {
        if (stop) {
          ctx.status = stop.status;
          // The same answer as on a plain request (coded body with request_id, plugin headers),
          // then the connection closes: it was never handed to an upstream.
          res.once('finish', () => {
            res.detachSocket(socket as never);
            lingerClose(socket);
          });
          sendShortCircuit(res, ctx, stop, true);
          done(route.id, upstream.id, stop.status);
          chain.log(ctx, (name, err) => w.logPluginError(name, err));
          return;
        }
        res.detachSocket(socket as never);
        applyHeaderEdits(out, ctx.upstreamHeaders);
        go(ctx.upstreamPath);
        chain.log(ctx, (name, err) => w.logPluginError(name, err));
      },
      (err: unknown) => {
        w.logPluginError('request phases', err);
        res.detachSocket(socket as never);
        done(route.id, upstream.id, writeRaw(socket, 'MERIDIAN_ERR_PLUGIN_FAILED', { name: route.id, phase: 'request' }, requestId));
      },
    );
  };
}
