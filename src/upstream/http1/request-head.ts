import type { Http1Request } from './types.js';

/** How the request body is framed on the wire, as the head says. */
export interface RequestFraming {
  /** Body bytes announced by Content-Length (given or added); -1 when there is none. */
  contentLength: number;
  /** Transfer-Encoding: chunked (given, or added for a stream without Content-Length). */
  chunked: boolean;
  /** The caller sent `Connection: close`: the connection is not reused after this exchange. */
  close: boolean;
}

/** A request the upstream must not be sent (a caller's bug, or a hostile header value). */
export class RequestHeadError extends Error {}

/** RFC 9110 tchar, for methods and header names. */
function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Letters, digits and !#$%&'*+-.^_`|~
    if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 46 || c === 33 || (c >= 35 && c <= 39) || c === 42 || c === 43 || c === 94 || c === 96 || c === 124 || c === 126)) return false;
  }
  return true;
}

/** A header value that cannot split or end a header line: no CR, LF, NUL or other controls, latin1 only. */
function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127 || c > 255) return false;
  }
  return true;
}

/** A request target: visible latin1 bytes, no space or controls. */
function isTarget(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 127 || c > 255) return false;
  }
  return true;
}

/** a (any case) equals b (lower case, same length). */
function lowerEq(a: string, b: string): boolean {
  for (let i = 0; i < b.length; i++) if ((a.charCodeAt(i) | 0x20) !== b.charCodeAt(i)) return false;
  return true;
}

/**
 * The request line and headers as one latin1 string ending in the blank line, every name,
 * value, method and target checked so nothing can end a line early (header injection is how
 * requests get smuggled). Framing follows the caller's headers; when they give none, a Buffer
 * body gets Content-Length and a stream gets chunked. `framing` is filled in.
 */
export function requestHead(
  req: Pick<Http1Request, 'method' | 'path' | 'headers' | 'body' | 'checkedHeaders'>,
  hostFallback: string,
  framing: RequestFraming,
): string {
  const { method, path, headers, body } = req;
  // Entries a strict parser produced are valid already (checking them again cost ~1.5 % of a request).
  const checked = req.checkedHeaders ?? 0;
  if (!isToken(method)) throw new RequestHeadError('bad method');
  if (!isTarget(path)) throw new RequestHeadError('bad request target');
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let host = false;
  let close = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    if (i >= checked && (!isToken(name) || !isFieldValue(value))) throw new RequestHeadError(`bad header ${isToken(name) ? name : '(name)'}`);
    switch (name.length) {
      case 4:
        if (lowerEq(name, 'host')) host = true;
        break;
      case 10:
        if (lowerEq(name, 'connection') && value.toLowerCase().includes('close')) close = true;
        break;
      case 14:
        if (lowerEq(name, 'content-length')) {
          if (contentLength !== undefined) throw new RequestHeadError('more than one content-length');
          contentLength = value;
        }
        break;
      case 17:
        if (lowerEq(name, 'transfer-encoding')) {
          if (transferEncoding !== undefined) throw new RequestHeadError('more than one transfer-encoding');
          transferEncoding = value;
        }
        break;
    }
    head += `${name}: ${value}\r\n`;
  }
  if (!host) head += `host: ${hostFallback}\r\n`;
  framing.close = close;
  framing.chunked = false;
  framing.contentLength = -1;
  const bodyLength = body === null ? 0 : Buffer.isBuffer(body) ? body.length : -1;
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) throw new RequestHeadError('both content-length and transfer-encoding');
    if (transferEncoding.length !== 7 || transferEncoding.toLowerCase() !== 'chunked') throw new RequestHeadError('transfer-encoding other than chunked');
    framing.chunked = true;
  } else if (contentLength !== undefined) {
    const n = contentLength.length > 0 && contentLength.length <= 15 && /^\d+$/.test(contentLength) ? Number(contentLength) : -1;
    if (n < 0) throw new RequestHeadError('bad content-length');
    if (bodyLength >= 0 && n !== bodyLength) throw new RequestHeadError(`content-length ${n} but a body of ${bodyLength} bytes`);
    framing.contentLength = n;
  } else if (bodyLength > 0) {
    head += `content-length: ${bodyLength}\r\n`;
    framing.contentLength = bodyLength;
  } else if (bodyLength < 0) {
    head += 'transfer-encoding: chunked\r\n';
    framing.chunked = true;
  }
  return `${head}\r\n`;
}
