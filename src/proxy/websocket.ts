import { request as httpRequest, ServerResponse, STATUS_CODES, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { MeridianError, type ErrorParams } from '../core/errors/index.js';
import type { GatewayRequest } from '../plugins/index.js';
import type { RuntimeNode, RuntimeUpstream } from '../upstream/runtime.js';
import { responseHeaders } from './headers.js';

export interface TunnelRequest {
  readonly upstream: RuntimeUpstream;
  readonly method: string;
  /** Path and query sent upstream. */
  readonly path: string;
  /** Upstream headers, flat, Host included at hostIndex; Connection/Upgrade are added here. */
  readonly headers: string[];
  readonly hostIndex: number;
  /** The client's Upgrade value (the protocols it asked for). */
  readonly upgrade: string;
  readonly hashKey: string | undefined;
  readonly https: boolean;
  /** Cap of the upstream's answer head (status line and headers) in bytes: over it, 502. */
  readonly maxHeadBytes: number;
  /** Time the upstream has to answer once connected (ms; 0 = none). */
  readonly readTimeoutMs: number;
  readonly requestId: string;
}

/** The client side of an upgrade: its request, its socket (detached from node:http) and the bytes read past its head. */
export interface TunnelClient {
  readonly req: GatewayRequest;
  readonly socket: Duplex;
  readonly head: Buffer;
}

/** How long a connection closed by the gateway is still read (and dropped) before it is destroyed. */
const LINGER_MS = 2_000;

/**
 * An upgrade (WebSocket or any other protocol) proxied to a node. The request is replayed on a
 * fresh connection and the answer is read by node:http's parser (its head capped at
 * maxHeadBytes). Only a `101 Switching Protocols` whose Upgrade is one the client asked for
 * turns the two connections into a byte tunnel; until then nothing the client sent past its
 * request reaches the upstream. Any other answer is relayed as a plain HTTP response and the
 * client connection is closed: bytes the client pipelined behind the upgrade never bypass
 * routing and plugins as a raw tunnel. A connection failure tries another node (nothing
 * was sent yet).
 */
export function tunnel(t: TunnelRequest, client: TunnelClient, onDone: (status: number) => void): void {
  const tried: RuntimeNode[] = [];
  let current: ClientRequest | undefined;
  let finished = false;
  /** The upstream answered (101 or a response is being relayed): no coded answer can follow. */
  let answered = false;
  const done = (status: number): void => {
    if (finished) return;
    finished = true;
    onDone(status);
  };
  const fail = (code: string, params: ErrorParams): void => {
    current?.destroy();
    if (answered) client.socket.destroy();
    done(writeRaw(client.socket, code, { upstream: t.upstream.id, ...params }, t.requestId));
  };
  const upstreamError = (reason: string): void => fail('MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR', { reason });
  client.socket.once('close', () => current?.destroy());
  t.headers.push('connection', 'upgrade', 'upgrade', t.upgrade);

  const attempt = (): void => {
    const node = t.upstream.select(t.hashKey, tried.length > 0 ? tried : undefined);
    if (!node) {
      if (tried.length === 0) fail('MERIDIAN_ERR_GATEWAY_NO_HEALTHY_NODE', {});
      else upstreamError('no other node to retry on');
      return;
    }
    if (t.upstream.passHost === 'node') t.headers[t.hostIndex] = node.hostHeader;
    const options: RequestOptions & { servername?: string } = {
      host: node.host,
      port: node.port,
      method: t.method,
      path: t.path,
      headers: t.headers,
      agent: false,
      setHost: false,
      maxHeaderSize: t.maxHeadBytes,
      ...(t.https ? { servername: t.upstream.upstreamHost ?? node.host } : {}),
    };
    const up = (t.https ? httpsRequest : httpRequest)(options);
    current = up;
    node.inflight++;
    let connected = false;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      node.inflight--;
    };
    let timer = setTimeout(() => up.destroy(new Error('connect timeout')), t.upstream.timeouts.connect);
    up.once('socket', (s: Socket) => {
      s.once(t.https ? 'secureConnect' : 'connect', () => {
        connected = true;
        clearTimeout(timer);
        t.upstream.health.success(node.health);
        if (t.readTimeoutMs > 0) {
          timer = setTimeout(() => {
            release();
            fail('MERIDIAN_ERR_GATEWAY_UPSTREAM_TIMEOUT', { phase: 'read' });
          }, t.readTimeoutMs);
        }
      });
    });
    up.once('upgrade', (res: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
      clearTimeout(timer);
      if (!upgradeAccepted(t.upgrade, res.headers.upgrade)) {
        upSocket.destroy();
        release();
        upstreamError('it switched to a protocol the client did not ask for');
        return;
      }
      answered = true;
      const socket = client.socket;
      socket.write(switchingHead(res.rawHeaders, t.requestId));
      if (upHead.length > 0) socket.write(upHead);
      if (client.head.length > 0) upSocket.write(client.head);
      upSocket.pipe(socket);
      socket.pipe(upSocket);
      upSocket.on('error', () => socket.destroy());
      upSocket.once('close', () => {
        release();
        socket.destroy();
        done(101);
      });
      socket.once('close', () => upSocket.destroy());
    });
    up.once('response', (res: IncomingMessage) => {
      clearTimeout(timer);
      if (res.statusCode === 101) {
        // A 101 without `Connection: upgrade` switches nothing node:http can follow.
        release();
        upstreamError('101 without Connection: upgrade');
        return;
      }
      answered = true;
      relay(res, client, t.requestId, () => {
        release();
        done(res.statusCode ?? 502);
      });
    });
    up.once('error', (err: Error & { code?: string }) => {
      clearTimeout(timer);
      release();
      if (finished) return;
      if (client.socket.destroyed) {
        done(499); // the client went away first
        return;
      }
      if (!connected) {
        t.upstream.health.failure(node.health);
        tried.push(node);
        if (tried.length <= t.upstream.retries) attempt();
        else upstreamError(`connection failed (${err.code ?? err.message})`);
        return;
      }
      upstreamError(err.code === 'HPE_HEADER_OVERFLOW' ? `answer head over ${t.maxHeadBytes} bytes` : (err.code ?? err.message));
    });
    up.end();
  };
  attempt();
}

/** The upstream's Upgrade names one of the protocols the client offered (tokens, any case). */
export function upgradeAccepted(asked: string, answered: string | undefined): boolean {
  if (answered === undefined) return false;
  const chosen = answered.trim().toLowerCase();
  if (chosen === '') return false;
  for (const p of asked.split(',')) if (p.trim().toLowerCase() === chosen) return true;
  return false;
}

/** The 101 as the upstream sent it, its X-Request-Id replaced by the gateway's. */
function switchingHead(raw: readonly string[], requestId: string): string {
  let text = 'HTTP/1.1 101 Switching Protocols\r\n';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 12 && name.toLowerCase() === 'x-request-id') continue;
    text += `${name}: ${raw[i + 1] as string}\r\n`;
  }
  return `${text}x-request-id: ${requestId}\r\n\r\n`;
}

/** A refused upgrade: the upstream's answer as a plain response (hop-by-hop dropped, node:http framing), then close. */
function relay(res: IncomingMessage, client: TunnelClient, requestId: string, onEnd: () => void): void {
  const out = responseOnSocket(client.req, client.socket);
  const headers = responseHeaders(res.rawHeaders);
  headers.push('x-request-id', requestId);
  out.writeHead(res.statusCode ?? 502, headers);
  res.pipe(out);
  res.once('close', () => {
    if (!res.complete) client.socket.destroy();
  });
  out.once('finish', () => {
    out.detachSocket(client.socket as Socket);
    lingerClose(client.socket);
    onEnd();
  });
  client.socket.once('close', () => {
    res.destroy();
    onEnd();
  });
}

/**
 * Closes a connection the gateway is done with, without a reset: the FIN goes after the
 * answer, and bytes the client still sends (a pipelined request) are read and dropped until
 * it closes, for LINGER_MS at most. Closing with unread bytes would send a RST, which can
 * discard the answer before the client reads it.
 */
export function lingerClose(socket: Duplex): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
  socket.once('end', () => socket.destroy());
  socket.end();
  socket.resume();
}

/**
 * A coded JSON answer on a raw socket (upgrade requests have no ServerResponse), then close.
 * Returns the status sent.
 */
export function writeRaw(socket: Duplex, code: string, params: ErrorParams, requestId: string): number {
  const err = new MeridianError(code, params);
  if (socket.destroyed || !socket.writable) return err.status;
  const body = JSON.stringify({ code: err.code, message: err.message, request_id: requestId });
  socket.write(`HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`);
  lingerClose(socket);
  return err.status;
}

/** A ServerResponse on an upgrade socket, so plugins can answer (401, 429...) before the tunnel. */
export function responseOnSocket(req: GatewayRequest, socket: Duplex): ServerResponse {
  // ServerResponse reads the request's method and HTTP version only.
  const res = new ServerResponse(req as IncomingMessage);
  res.assignSocket(socket as Socket);
  res.shouldKeepAlive = false;
  return res;
}
