import { createSecureServer, type Http2SecureServer, type Http2Session } from 'node:http2';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type SecureContext, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { MeridianError } from '../core/errors/index.js';
import { createHttpEngine, type EngineRequest, type EngineResponse, type HttpEngine } from '../http/index.js';
import type { GatewayRequest, GatewayResponse } from '../plugins/index.js';
import { writeRaw } from '../proxy/websocket.js';
import type { GatewayProgramConfig } from './config.js';
import { splitHostPort } from './config.js';
import { EngineIncoming, EngineOutgoing } from './engine-adapter.js';
import type { DefaultCert } from './tls.js';

export type PublicServer = NetServer | TlsServer | Http2SecureServer;

export interface Listener {
  readonly address: string;
  readonly port: number;
  readonly tls: boolean;
  readonly server: PublicServer;
  /** Serves the listener's HTTP/1.x connections (HTTP/2 sessions stay on node:http2). */
  readonly engine: HttpEngine;
  /** Current default certificate id (no-SNI clients), to skip needless context swaps. */
  defaultCertId: string | undefined;
}

type Limits = GatewayProgramConfig['limits'];

/**
 * The engine's refusals answered with the gateway's codes (the same ones node:http's listeners
 * answered with): 431 and 408 keep their statuses, the rest are coded 400s saying what was wrong.
 */
const BAD_REQUEST_REASONS: Record<string, string> = {
  MERIDIAN_ERR_HTTP_DUPLICATE_HOST: 'duplicate Host header',
  MERIDIAN_ERR_HTTP_MISSING_HOST: 'missing Host header',
  MERIDIAN_ERR_HTTP_DUPLICATE_CONTENT_LENGTH: 'duplicate Content-Length',
  MERIDIAN_ERR_HTTP_LENGTH_AND_CHUNKED: 'both Content-Length and Transfer-Encoding',
};

export function gatewayAnswer(err: MeridianError): MeridianError {
  switch (err.code) {
    case 'MERIDIAN_ERR_HTTP_HEADERS_TOO_LARGE':
    case 'MERIDIAN_ERR_HTTP_TOO_MANY_HEADERS':
      return new MeridianError('MERIDIAN_ERR_GATEWAY_HEADERS_TOO_LARGE', { reason: err.message });
    case 'MERIDIAN_ERR_HTTP_HEADERS_TIMEOUT':
    case 'MERIDIAN_ERR_HTTP_REQUEST_TIMEOUT':
      return new MeridianError('MERIDIAN_ERR_GATEWAY_REQUEST_TIMEOUT');
    default:
      if (err.status !== 400) return err; // 414, 501
      return new MeridianError('MERIDIAN_ERR_GATEWAY_BAD_REQUEST', { reason: BAD_REQUEST_REASONS[err.code] ?? err.message });
  }
}

export type Handler = (req: GatewayRequest, res: GatewayResponse) => void;
export type UpgradeHandler = (req: GatewayRequest, socket: Duplex, head: Buffer) => void;

/** The engine for one listener: the gateway's limits and timeouts, its handlers behind the node:http-shaped facade. */
function engineFor(limits: Limits, onRequest: Handler, onUpgrade: UpgradeHandler): HttpEngine {
  return createHttpEngine({
    onRequest(req: EngineRequest, res: EngineResponse) {
      // As node:http does: 100 Continue at once; the body then streams to wherever it is sent.
      if (req.expectsContinue) res.writeContinue();
      onRequest(new EngineIncoming(req), new EngineOutgoing(res));
    },
    onUpgrade(req: EngineRequest, socket: Socket, head: Buffer) {
      socket.on('error', () => socket.destroy());
      // CONNECT is no upgrade: a gateway is no forward proxy.
      if (req.method === 'CONNECT') {
        writeRaw(socket, 'MERIDIAN_ERR_HTTP_CONNECT_UNSUPPORTED', {}, '');
        return;
      }
      onUpgrade(new EngineIncoming(req), socket, head);
    },
    answerFor: gatewayAnswer,
    limits: {
      maxHeaderBytes: limits.max_header_bytes,
      maxHeaders: limits.max_headers,
      // node:http bounded the request line by the head's size only.
      maxUrlLength: limits.max_header_bytes,
      // A body the answer did not need is read and dropped whole, as node:http does, so the
      // connection carries the next request; request_timeout_ms bounds it in time.
      maxDiscardBytes: Number.MAX_SAFE_INTEGER,
    },
    timeouts: { headersMs: limits.headers_timeout_ms, requestMs: limits.request_timeout_ms, keepAliveMs: limits.keepalive_timeout_ms, checkMs: limits.timeouts_check_ms },
    // The handler refuses an HTTP/1.1 request without Host with its coded 400 (the same answer).
    requireHost: false,
  });
}

export function httpListener(address: string, limits: Limits, onRequest: Handler, onUpgrade: UpgradeHandler): Listener {
  const engine = engineFor(limits, onRequest, onUpgrade);
  // pauseOnConnect: the engine moves each connection to its shared read buffer before it reads.
  const server = createNetServer({ allowHalfOpen: true, pauseOnConnect: true });
  engine.attach(server);
  return { address, port: splitHostPort(address).port, tls: false, server, engine, defaultCertId: undefined };
}

/**
 * HTTPS with SNI from the current config. HTTP/1.1 goes to the engine; with `http2`, ALPN
 * also offers h2 and those sessions are node:http2's: the http2 server's own connection
 * listener gets the sockets that chose h2, the engine the others (one tls.Server, so SNI and
 * the default certificate apply to both).
 */
export function httpsListener(
  address: string,
  limits: Limits,
  http2: boolean,
  sni: (servername: string) => SecureContext | undefined,
  onRequest: Handler,
  onUpgrade: UpgradeHandler,
  sessions: Set<Http2Session>,
): Listener {
  const SNICallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => cb(null, sni(servername));
  const engine = engineFor(limits, onRequest, onUpgrade);
  let server: PublicServer;
  if (http2) {
    const s = createSecureServer({ allowHTTP1: true, SNICallback, maxSessionMemory: 64, settings: { maxHeaderListSize: limits.max_header_bytes } }, onRequest as never);
    s.on('session', (session: Http2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
    });
    const [h2Listener] = s.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
    s.removeAllListeners('secureConnection');
    s.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2') h2Listener?.call(s, socket);
      else engine.serve(socket);
    });
    server = s;
  } else {
    server = createTlsServer({ SNICallback, ALPNProtocols: ['http/1.1'], allowHalfOpen: true });
    engine.attach(server);
  }
  return { address, port: splitHostPort(address).port, tls: true, server, engine, defaultCertId: undefined };
}

/** Serves `cert` to clients without SNI on this listener (hot: no restart). */
export function setDefaultCert(l: Listener, cert: DefaultCert | undefined): void {
  const id = cert ? `${cert.id}\n${cert.cert}\n${cert.key}` : undefined;
  if (id === l.defaultCertId) return;
  l.defaultCertId = id;
  if (cert) (l.server as TlsServer).setSecureContext({ cert: cert.cert, key: cert.key });
}

export function listen(l: Listener): Promise<void> {
  const { host, port } = splitHostPort(l.address);
  return new Promise((resolve, reject) => {
    l.server.once('error', reject);
    l.server.listen({ host, port }, () => {
      l.server.off('error', reject);
      resolve();
    });
  });
}
