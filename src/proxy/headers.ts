/**
 * Header handling on the hot path: one pass over the raw header list, no header object built,
 * hop-by-hop headers (RFC 9110 7.6.1) dropped, the few headers the gateway needs picked up.
 */
import { IDENTITY_HEADERS } from '../core/identity-headers.js';

/** a (any case) equals b (lower case, same length). Header names are tokens, so |0x20 is safe. */
function lowerEq(a: string, b: string): boolean {
  for (let i = 0; i < b.length; i++) if ((a.charCodeAt(i) | 0x20) !== b.charCodeAt(i)) return false;
  return true;
}

/**
 * The identity headers (lower case) by name length: a header costs one array read to be
 * told apart from them. Filled with undefined so the array stays packed.
 */
const IDENTITY_BY_LENGTH: Array<readonly string[] | undefined> = ((): Array<string[] | undefined> => {
  const byLength: Array<string[] | undefined> = Array.from({ length: Math.max(...IDENTITY_HEADERS.map((n) => n.length)) + 1 }, () => undefined);
  for (const n of IDENTITY_HEADERS) (byLength[n.length] ??= []).push(n.toLowerCase());
  return byLength;
})();

function isIdentityHeader(name: string): boolean {
  const names = name.length < IDENTITY_BY_LENGTH.length ? IDENTITY_BY_LENGTH[name.length] : undefined;
  if (names === undefined) return false;
  for (const n of names) if (lowerEq(name, n)) return true;
  return false;
}

/** What the gateway reads from the client request while copying its headers. */
export interface ClientHeaders {
  /**
   * Headers to send upstream, flat [name, value, ...], without hop-by-hop and forwarding
   * headers, Expect (the gateway answers it) and the client's copies of identity headers.
   */
  readonly out: string[];
  host: string | undefined;
  contentLength: string | undefined;
  transferEncoding: string | undefined;
  requestId: string | undefined;
  forwardedFor: string | undefined;
  connection: string | undefined;
  upgrade: string | undefined;
  /** Set when the request must be refused with 400 (ambiguous Host or framing): the reason. */
  invalid: string | undefined;
  /** The client sent an identity header: dropped from `out` here, from req.headers by alignPluginView. */
  identity: boolean;
}

/**
 * One pass over the client's raw headers. `hostRequired`: an HTTP/1.1 request, which must
 * carry a Host (RFC 9112 3.2); HTTP/1.0 may omit it.
 */
export function scanRequestHeaders(raw: readonly string[], hostRequired = false): ClientHeaders {
  const out: string[] = [];
  const h: ClientHeaders = { out, host: undefined, contentLength: undefined, transferEncoding: undefined, requestId: undefined, forwardedFor: undefined, connection: undefined, upgrade: undefined, invalid: undefined, identity: false };
  // HTTP/2's :authority may come with a Host header; HTTP/1 has Host alone. Two values would let
  // routing, plugins (req.headers keeps the first) and the upstream each read another one.
  let authority = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    // HTTP/2 pseudo-headers: :authority is the Host; the others are not headers upstream.
    if (name.charCodeAt(0) === 58) {
      if (name === ':authority' && h.host === undefined) {
        h.host = value;
        authority = true;
      }
      continue;
    }
    switch (name.length) {
      case 2:
        if (lowerEq(name, 'te')) continue;
        break;
      case 4:
        if (lowerEq(name, 'host')) {
          if (h.host === undefined) h.host = value;
          else if (!authority) h.invalid = 'duplicate Host header';
          else if (value !== h.host) h.invalid = 'Host differs from :authority';
          authority = false; // a second Host after :authority is a duplicate
          continue;
        }
        break;
      case 6:
        // The gateway answers Expect itself (node:http sends 100 Continue); undici refuses it.
        if (lowerEq(name, 'expect')) continue;
        break;
      case 7:
        if (lowerEq(name, 'trailer')) continue;
        if (lowerEq(name, 'upgrade')) {
          h.upgrade = value;
          continue;
        }
        break;
      case 10:
        if (lowerEq(name, 'connection')) {
          h.connection = h.connection === undefined ? value : `${h.connection}, ${value}`;
          continue;
        }
        if (lowerEq(name, 'keep-alive')) continue;
        break;
      case 12:
        if (lowerEq(name, 'x-request-id')) {
          h.requestId = value;
          continue;
        }
        break;
      case 14:
        if (lowerEq(name, 'content-length')) {
          if (h.contentLength !== undefined && h.contentLength !== value) h.invalid = 'duplicate Content-Length';
          h.contentLength = value;
        }
        break;
      case 15:
        if (lowerEq(name, 'x-forwarded-for')) {
          h.forwardedFor = h.forwardedFor === undefined ? value : `${h.forwardedFor}, ${value}`;
          continue;
        }
        break;
      case 16:
        if (lowerEq(name, 'proxy-connection') || lowerEq(name, 'x-forwarded-host')) continue;
        break;
      case 17:
        if (lowerEq(name, 'transfer-encoding')) {
          h.transferEncoding = value;
          continue;
        }
        if (lowerEq(name, 'x-forwarded-proto')) continue;
        break;
      default:
        break;
    }
    if (isIdentityHeader(name)) {
      h.identity = true;
      continue;
    }
    out.push(name, value);
  }
  // Request smuggling guard: a message with both framings is refused (RFC 9112 6.1).
  if (h.transferEncoding !== undefined && h.contentLength !== undefined) h.invalid ??= 'both Content-Length and Transfer-Encoding';
  if (hostRequired && h.host === undefined) h.invalid ??= 'missing Host header';
  if (h.connection !== undefined) dropConnectionTokens(out, h.connection);
  return h;
}

/** The request headers as plugins read them (req.headers), made to agree with what the scan found. */
export interface PluginHeaderView {
  readonly headers: Record<string, string | string[] | undefined>;
  readonly httpVersionMajor: number;
}

/**
 * Before plugins run: a client's identity headers leave req.headers too (proxy-mirror copies
 * them), and an HTTP/2 request's Host is its :authority, the value routing and the upstream
 * use. Only the plugin path pays for this; req.headers is built lazily on HTTP/1.
 */
export function alignPluginView(req: PluginHeaderView, h: ClientHeaders): void {
  if (h.identity) for (const n of IDENTITY_HEADERS) delete req.headers[n.toLowerCase()];
  if (req.httpVersionMajor === 2 && h.host !== undefined) req.headers.host = h.host;
}

/** Headers named in Connection are hop-by-hop too (rare: only then is a second pass paid). */
function dropConnectionTokens(out: string[], connection: string): void {
  // The usual values name no header: skip the split.
  if (connection.length <= 10 && /^(keep-alive|close|upgrade)$/i.test(connection)) return;
  const tokens = connection.toLowerCase().split(',').map((t) => t.trim()).filter((t) => t !== '' && t !== 'close' && t !== 'keep-alive' && t !== 'upgrade');
  if (tokens.length === 0) return;
  for (let i = out.length - 2; i >= 0; i -= 2) {
    if (tokens.includes((out[i] as string).toLowerCase())) out.splice(i, 2);
  }
}

/**
 * The upstream's response headers for the client: raw buffers from undici to a flat string
 * list, hop-by-hop removed. latin1 keeps every byte as it came.
 */
export function responseHeaders(raw: readonly Buffer[] | readonly string[]): string[] {
  const out: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i] as Buffer | string;
    const name = typeof k === 'string' ? k : k.toString('latin1');
    const v = raw[i + 1] as Buffer | string;
    const value = typeof v === 'string' ? v : v.toString('latin1');
    switch (name.length) {
      case 2:
        if (lowerEq(name, 'te')) continue;
        break;
      case 7:
        if (lowerEq(name, 'trailer') || lowerEq(name, 'upgrade')) continue;
        break;
      case 12:
        // The gateway sends its own X-Request-Id (the one the upstream got): never two of them.
        if (lowerEq(name, 'x-request-id')) continue;
        break;
      case 10:
        if (lowerEq(name, 'connection')) {
          connection = value;
          continue;
        }
        if (lowerEq(name, 'keep-alive')) continue;
        break;
      case 16:
        if (lowerEq(name, 'proxy-connection')) continue;
        break;
      case 17:
        if (lowerEq(name, 'transfer-encoding')) continue;
        break;
      default:
        break;
    }
    out.push(name, value);
  }
  if (connection !== undefined) dropConnectionTokens(out, connection);
  return out;
}

/** Flat list to an object (HTTP/2 responses take objects; repeated names become arrays). */
export function headerObject(flat: readonly string[]): Record<string, string | string[]> {
  const o: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const k = (flat[i] as string).toLowerCase();
    const v = flat[i + 1] as string;
    const prev = o[k];
    o[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return o;
}
