import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { settle, type RequestContext } from '../plugins/index.js';
import { applyHeaderEdits, sendShortCircuit } from '../proxy/exchange.js';
import { scanRequestHeaders } from '../proxy/headers.js';
import { responseOnSocket, tunnel, writeRaw } from '../proxy/websocket.js';
import { normaliseTarget } from '../router/normalize.js';
import type { WorkerContext } from './handler.js';
import { NONE } from './metrics.js';

/**
 * Upgrade requests (WebSocket): routed like any request, plugins' request phases run (so an
 * auth plugin guards a socket as it guards a request), then the connection becomes a tunnel.
 */
export function createUpgradeHandler(w: WorkerContext, proto: 'http' | 'https'): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return function onUpgrade(req, socket, head) {
    const startedAt = performance.now();
    socket.on('error', () => socket.destroy());
    const h = scanRequestHeaders(req.rawHeaders);
    const requestId = h.requestId ?? w.nextRequestId();
    const target = normaliseTarget(req.url ?? '');
    const done = (routeId: string, upstream: string, status: number): void => w.metrics.route(routeId).observe(upstream, status, (performance.now() - startedAt) / 1000);
    if (target === undefined || (h.transferEncoding !== undefined && h.contentLength !== undefined)) {
      writeRaw(socket, 400, 'bad request', requestId);
      done(NONE, NONE, 400);
      return;
    }
    const method = req.method ?? 'GET';
    const match = w.runtime?.router.find(method, h.host, target.path, req, target.query);
    if (!match) {
      writeRaw(socket, 404, `no route matches ${method} ${h.host ?? ''}${target.path}`, requestId);
      done(NONE, NONE, 404);
      return;
    }
    const route = match.value;
    const upstream = route.upstream;
    if (!upstream) {
      writeRaw(socket, 503, `route ${route.id} has no upstream`, requestId);
      done(route.id, NONE, 503);
      return;
    }
    let path = target.path;
    if (route.stripPrefix !== undefined && path.startsWith(route.stripPrefix)) path = path.slice(route.stripPrefix.length) || '/';
    if (route.rewritePath !== undefined) path = route.rewritePath;
    const clientIp = req.socket.remoteAddress ?? '';
    const out = h.out;
    out.push('x-forwarded-for', h.forwardedFor === undefined ? clientIp : `${h.forwardedFor}, ${clientIp}`, 'x-forwarded-proto', proto, 'x-request-id', requestId);
    if (h.host !== undefined) out.push('x-forwarded-host', h.host);
    const go = (upstreamPath: string): void => {
      out.push('host', upstream.passHost === 'rewrite' ? (upstream.upstreamHost as string) : (h.host ?? ''));
      tunnel(
        { upstream, method, path: upstreamPath + target.query, headers: out, hostIndex: out.length - 1, upgrade: h.upgrade ?? 'websocket', hashKey: upstream.hashOn?.type === 'ip' ? clientIp : target.path, https: upstream.spec.scheme === 'https' },
        socket,
        head,
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
    settle(
      () => route.chain.request(ctx),
      ({ chain, stop }) => {
        if (stop) {
          ctx.status = stop.status;
          // The same answer as on a plain request (coded body with request_id, plugin headers),
          // then the socket closes: it was never handed to an upstream.
          res.once('finish', () => socket.destroy());
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
        writeRaw(socket, 502, 'plugin failed', requestId);
      },
    );
  };
}
