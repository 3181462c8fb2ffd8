import { request as httpRequest, ServerResponse, STATUS_CODES, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { MeridianError, type ErrorParams } from '../core/errors/index.js';
import type { GatewayRequest, GatewayResponse, RequestContext, ShortCircuit } from '../plugins/index.js';
import type { RuntimeNode, RuntimeUpstream } from '../upstream/runtime.js';
import { sendShortCircuit } from './exchange.js';
import { responseHeaders } from './headers.js';
import { ProxyRequest, type RequestEnv } from './request.js';
import type { CompiledRoute } from './types.js';

/** The client side of an upgrade: its request, its socket (handed over by the listener) and the bytes read past its head. */
export interface TunnelClient {
  readonly req: GatewayRequest;
  readonly socket: Duplex;
  readonly head: Buffer;
}

/** How long a connection closed by the gateway is still read (and dropped) before it is destroyed. */
const LINGER_MS = 2_000;

/**
 * An upgrade request (WebSocket or any other protocol): prepared like any request (the
 * gateway's prepare step, plugins' request phases), then proxied to a node. The request is
 * replayed on a fresh connection and the answer is read by node:http's parser (its head
 * capped at maxHeadBytes). Only a `101 Switching Protocols` whose Upgrade is one the client
 * asked for turns the two connections into a byte tunnel; until then nothing the client sent
 * past its request reaches the upstream. Any other answer is relayed as a plain HTTP response
 * and the client connection is closed: bytes the client pipelined behind the upgrade never
 * bypass routing and plugins as a raw tunnel. A connection failure tries another node
 * (nothing was sent yet). The request finishes when the tunnel closes (status 101) or the
 * relayed answer ends.
 */
export class UpgradeRequest extends ProxyRequest {
  declare route: CompiledRoute;
  declare upstream: RuntimeUpstream;
  readonly socket: Duplex;
  private readonly head: Buffer;
  /** A ServerResponse on the socket, made when plugins need one (their answers, ctx.res). */
  private res: ServerResponse | undefined = undefined;

  constructor(
    env: RequestEnv,
    client: TunnelClient,
    /** Cap of the upstream's answer head (status line and headers) in bytes: over it, 502. */
    private readonly maxHeadBytes: number,
  ) {
    super(env, client.req, true);
    this.socket = client.socket;
    this.head = client.head;
  }

  pluginResponse(): GatewayResponse {
    return (this.res ??= responseOnSocket(this.req, this.socket));
  }

  answer(stop: ShortCircuit): void {
    // The same answer as on a plain request (coded body with request_id, plugin headers), then
    // the connection closes: it was never handed to an upstream.
    if (this.socket.destroyed) return;
    const res = this.pluginResponse() as ServerResponse;
    const socket = this.socket;
    res.once('finish', () => {
      res.detachSocket(socket as Socket);
      lingerClose(socket);
    });
    sendShortCircuit(res, this.ctx as RequestContext, stop, true);
  }

  clientGone(): boolean {
    return this.socket.destroyed;
  }

  protected sendError(code: string, params: ErrorParams): number {
    this.detach();
    return writeRaw(this.socket, code, params, this.requestId);
  }

  /** The socket leaves the plugins' ServerResponse: from here on it is written raw. */
  private detach(): void {
    if (this.res !== undefined && this.res.socket !== null) this.res.detachSocket(this.socket as Socket);
  }

  protected send(): void {
    this.detach();
    const upstream = this.upstream;
    const socket = this.socket;
    const requestId = this.requestId;
    const upgrade = this.clientHeaders?.upgrade ?? 'websocket';
    const https = upstream.spec.scheme === 'https';
    const readTimeoutMs = this.route.readTimeout ?? upstream.timeouts.read;
    const tried: RuntimeNode[] = [];
    let current: ClientRequest | undefined;
    /** The upstream answered (101 or a response is being relayed): no coded answer can follow. */
    let answered = false;
    const fail = (code: string, params: ErrorParams): void => {
      current?.destroy();
      if (answered) socket.destroy();
      if (!this.finished) this.finish(writeRaw(socket, code, { upstream: upstream.id, ...params }, requestId));
    };
    const upstreamError = (reason: string): void => fail('MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR', { reason });
    socket.once('close', () => current?.destroy());
    this.headers.push('connection', 'upgrade', 'upgrade', upgrade);

    const attempt = (): void => {
      const node = upstream.select(this.hashKey, tried.length > 0 ? tried : undefined);
      if (!node) {
        if (tried.length === 0) fail('MERIDIAN_ERR_GATEWAY_NO_HEALTHY_NODE', {});
        else upstreamError('no other node to retry on');
        return;
      }
      if (upstream.passHost === 'node') this.headers[this.hostIndex] = node.hostHeader;
      const options: RequestOptions & { servername?: string } = {
        host: node.host,
        port: node.port,
        method: this.method,
        path: this.path,
        headers: this.headers,
        agent: false,
        setHost: false,
        maxHeaderSize: this.maxHeadBytes,
        ...(https ? { servername: upstream.upstreamHost ?? node.host } : {}),
      };
      const up = (https ? httpsRequest : httpRequest)(options);
      current = up;
      node.inflight++;
      let connected = false;
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        node.inflight--;
      };
      let timer = setTimeout(() => up.destroy(new Error('connect timeout')), upstream.timeouts.connect);
      up.once('socket', (s: Socket) => {
        s.once(https ? 'secureConnect' : 'connect', () => {
          connected = true;
          clearTimeout(timer);
          upstream.health.success(node.health);
          if (readTimeoutMs > 0) {
            timer = setTimeout(() => {
              release();
              fail('MERIDIAN_ERR_GATEWAY_UPSTREAM_TIMEOUT', { phase: 'read' });
            }, readTimeoutMs);
          }
        });
      });
      up.once('upgrade', (res: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
        clearTimeout(timer);
        if (!upgradeAccepted(upgrade, res.headers.upgrade)) {
          upSocket.destroy();
          release();
          upstreamError('it switched to a protocol the client did not ask for');
          return;
        }
        answered = true;
        socket.write(switchingHead(res.rawHeaders, requestId));
        if (upHead.length > 0) socket.write(upHead);
        if (this.head.length > 0) upSocket.write(this.head);
        upSocket.pipe(socket);
        socket.pipe(upSocket);
        upSocket.on('error', () => socket.destroy());
        upSocket.once('close', () => {
          release();
          socket.destroy();
          this.finish(101);
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
        relay(res, this, () => {
          release();
          this.finish(res.statusCode ?? 502);
        });
      });
      up.once('error', (err: Error & { code?: string }) => {
        clearTimeout(timer);
        release();
        if (this.finished) return;
        if (socket.destroyed) {
          this.finish(499); // the client went away first
          return;
        }
        if (!connected) {
          upstream.health.failure(node.health);
          tried.push(node);
          if (tried.length <= upstream.retries) attempt();
          else upstreamError(`connection failed (${err.code ?? err.message})`);
          return;
        }
        upstreamError(err.code === 'HPE_HEADER_OVERFLOW' ? `answer head over ${this.maxHeadBytes} bytes` : (err.code ?? err.message));
      });
      up.end();
    };
    attempt();
  }
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
function relay(res: IncomingMessage, client: UpgradeRequest, onEnd: () => void): void {
  const out = responseOnSocket(client.req, client.socket);
  const headers = responseHeaders(res.rawHeaders);
  headers.push('x-request-id', client.requestId);
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
