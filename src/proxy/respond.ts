import type { Http2ServerResponse } from 'node:http2';
import type { GatewayResponse } from '../plugins/index.js';
import { MeridianError, type ErrorParams } from '../core/errors/index.js';

/**
 * The client response: node:http2's compat response or the HTTP/1.1 engine's (through the same
 * shape: write, end, writeHead with an object or a flat list); isHttp2() tells them apart where
 * they differ.
 */
export type ClientResponse = GatewayResponse;

/**
 * A coded JSON error for the client: `{code, message, request_id}` with the catalogue's
 * status. `close` asks the client to drop the connection (unread request body, draining).
 */
export function sendError(res: ClientResponse, code: string, params: ErrorParams, requestId: string, close = false): number {
  const err = new MeridianError(code, params);
  if (res.headersSent) {
    res.destroy();
    return err.status;
  }
  const body = JSON.stringify({ code: err.code, message: err.message, request_id: requestId });
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
  };
  if (close && !isHttp2(res)) headers.connection = 'close';
  res.writeHead(err.status, headers);
  res.end(body);
  return err.status;
}

export function isHttp2(res: ClientResponse): boolean {
  return (res as unknown as Partial<Http2ServerResponse>).stream !== undefined;
}
