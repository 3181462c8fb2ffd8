import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2Session } from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContext } from 'node:tls';
import type { GatewayProgramConfig } from './config.js';
import { splitHostPort } from './config.js';
import type { DefaultCert } from './tls.js';

export type PublicServer = Server | HttpsServer | Http2SecureServer;

export interface Listener {
  readonly address: string;
  readonly port: number;
  readonly tls: boolean;
  readonly server: PublicServer;
  /** Current default certificate id (no-SNI clients), to skip needless context swaps. */
  defaultCertId: string | undefined;
}

type Limits = GatewayProgramConfig['limits'];

const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'MERIDIAN_ERR_GATEWAY_HEADERS_TOO_LARGE', 'request headers too large: header section over the size limit'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'MERIDIAN_ERR_GATEWAY_REQUEST_TIMEOUT', 'request not received in time'],
};

/**
 * What llhttp refuses before a request exists, said plainly. It refuses any repeated
 * Content-Length (equal values too) and Content-Length with Transfer-Encoding itself, so
 * neither reaches the handler on HTTP/1.
 */
const PARSE_ERRORS: Record<string, string> = {
  HPE_UNEXPECTED_CONTENT_LENGTH: 'duplicate Content-Length',
  HPE_INVALID_TRANSFER_ENCODING: 'both Content-Length and Transfer-Encoding, or an invalid Transfer-Encoding',
  HPE_INVALID_CONTENT_LENGTH: 'invalid Content-Length',
};

/** Protocol-level errors Node raises before a request exists: a coded JSON answer, then close. */
function onClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable || (socket as Socket).bytesWritten > 0) {
    socket.destroy();
    return;
  }
  const [status, code, message] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'MERIDIAN_ERR_GATEWAY_BAD_REQUEST', `bad request: ${PARSE_ERRORS[err.code ?? ''] ?? 'malformed HTTP'}`];
  const body = JSON.stringify({ code, message });
  const reason = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

function httpOptions(limits: Limits): ServerOptions {
  return {
    maxHeaderSize: limits.max_header_bytes,
    headersTimeout: limits.headers_timeout_ms,
    requestTimeout: limits.request_timeout_ms,
    keepAliveTimeout: limits.keepalive_timeout_ms,
    connectionsCheckingInterval: limits.timeouts_check_ms,
    // The handler refuses an HTTP/1.1 request without Host with the coded JSON 400 (Node's is plain text).
    requireHostHeader: false,
  };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export function httpListener(address: string, limits: Limits, onRequest: Handler, onUpgrade: UpgradeHandler): Listener {
  const server = createServer(httpOptions(limits), onRequest);
  // No silent truncation (Node's default drops headers past 2000): the handler counts them and
  // answers 431 past limits.max_headers; the byte size is bounded by maxHeaderSize anyway.
  server.maxHeadersCount = 0;
  server.on('clientError', onClientError);
  server.on('upgrade', onUpgrade);
  return { address, port: splitHostPort(address).port, tls: false, server, defaultCertId: undefined };
}

/**
 * HTTPS with SNI from the current config. With `http2`, ALPN offers h2 and http/1.1
 * (allowHTTP1): HTTP/1.1 clients are served by Node's HTTP/1 code path unchanged.
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
  let server: PublicServer;
  if (http2) {
    const s = createSecureServer({ allowHTTP1: true, SNICallback, maxSessionMemory: 64, settings: { maxHeaderListSize: limits.max_header_bytes } }, onRequest as never);
    s.on('session', (session: Http2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
    });
    // HTTP/1 connections on this server are handled by Node's HTTP/1 server code with these.
    Object.assign(s, { headersTimeout: limits.headers_timeout_ms, requestTimeout: limits.request_timeout_ms, keepAliveTimeout: limits.keepalive_timeout_ms, maxHeadersCount: 0 });
    server = s;
  } else {
    server = createHttpsServer({ ...httpOptions(limits), SNICallback }, onRequest);
    (server as HttpsServer).maxHeadersCount = 0;
  }
  server.on('clientError', onClientError);
  server.on('upgrade', onUpgrade);
  return { address, port: splitHostPort(address).port, tls: true, server, defaultCertId: undefined };
}

/** Serves `cert` to clients without SNI on this listener (hot: no restart). */
export function setDefaultCert(l: Listener, cert: DefaultCert | undefined): void {
  const id = cert ? `${cert.id}\n${cert.cert}\n${cert.key}` : undefined;
  if (id === l.defaultCertId) return;
  l.defaultCertId = id;
  if (cert) (l.server as HttpsServer).setSecureContext({ cert: cert.cert, key: cert.key });
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
