import { ServerResponse, type IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { RuntimeNode, RuntimeUpstream } from '../upstream/runtime.js';

export interface TunnelRequest {
  readonly upstream: RuntimeUpstream;
  readonly method: string;
  /** Path and query sent upstream. */
  readonly path: string;
  /** Upstream headers, flat, Host included at hostIndex; Connection/Upgrade are added here. */
  readonly headers: string[];
  readonly hostIndex: number;
  readonly upgrade: string;
  readonly hashKey: string | undefined;
  readonly https: boolean;
}

/**
 * A WebSocket (any Upgrade) proxied as a byte tunnel: the request is replayed on a fresh
 * connection to a node, and from then on both directions are piped as they are, the
 * upstream's 101 (or refusal) included. A connection failure tries another node, as for
 * idempotent requests (nothing was sent yet).
 */
export function tunnel(req: TunnelRequest, client: Duplex, head: Buffer, onDone: (status: number) => void): void {
  const tried: RuntimeNode[] = [];
  const attempt = (): void => {
    const node = req.upstream.select(req.hashKey, tried.length > 0 ? tried : undefined);
    if (!node) {
      writeRaw(client, tried.length === 0 ? 503 : 502, tried.length === 0 ? 'no available node' : 'upstream connection failed');
      onDone(tried.length === 0 ? 503 : 502);
      return;
    }
    if (req.upstream.passHost === 'node') req.headers[req.hostIndex] = node.hostHeader;
    const timeout = req.upstream.timeouts.connect;
    const up: Socket = req.https ? tlsConnect({ host: node.host, port: node.port, servername: req.upstream.upstreamHost ?? node.host }) : netConnect({ host: node.host, port: node.port });
    const timer = setTimeout(() => up.destroy(new Error('connect timeout')), timeout);
    node.inflight++;
    let connected = false;
    up.once(req.https ? 'secureConnect' : 'connect', () => {
      connected = true;
      clearTimeout(timer);
      req.upstream.health.success(node.health);
      let text = `${req.method} ${req.path} HTTP/1.1\r\n`;
      for (let i = 0; i < req.headers.length; i += 2) text += `${req.headers[i]}: ${req.headers[i + 1]}\r\n`;
      text += `connection: upgrade\r\nupgrade: ${req.upgrade}\r\n\r\n`;
      up.write(text);
      if (head.length > 0) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.once('error', () => {
      clearTimeout(timer);
      if (!connected) {
        node.inflight--;
        req.upstream.health.failure(node.health);
        tried.push(node);
        if (tried.length <= req.upstream.retries) attempt();
        else {
          writeRaw(client, 502, 'upstream connection failed');
          onDone(502);
        }
        return;
      }
      client.destroy();
    });
    up.once('close', () => {
      if (!connected) return;
      node.inflight--;
      client.destroy();
      onDone(101);
    });
    client.once('error', () => up.destroy());
    client.once('close', () => up.destroy());
  };
  attempt();
}

/** A minimal HTTP answer on a raw socket (upgrade requests have no ServerResponse). */
export function writeRaw(socket: Duplex, status: number, message: string, requestId?: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ code: status === 404 ? 'MERIDIAN_ERR_GATEWAY_NO_ROUTE' : status === 503 ? 'MERIDIAN_ERR_GATEWAY_NO_HEALTHY_NODE' : status === 400 ? 'MERIDIAN_ERR_GATEWAY_BAD_REQUEST' : 'MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR', message, ...(requestId ? { request_id: requestId } : {}) });
  socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : status === 400 ? 'Bad Request' : status === 503 ? 'Service Unavailable' : 'Bad Gateway'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/** A ServerResponse on an upgrade socket, so plugins can answer (401, 429...) before the tunnel. */
export function responseOnSocket(req: IncomingMessage, socket: Duplex): ServerResponse {
  const res = new ServerResponse(req);
  res.assignSocket(socket as Socket);
  res.shouldKeepAlive = false;
  return res;
}
