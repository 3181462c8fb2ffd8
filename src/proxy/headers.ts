/**
 * Header handling on the hot path: one pass over the raw header list, no header object built,
 * hop-by-hop headers (RFC 9110 7.6.1) dropped, the few headers the gateway needs picked up.
 */

/** a (any case) equals b (lower case, same length). Header names are tokens, so |0x20 is safe. */
function lowerEq(a: string, b: string): boolean {
  for (let i = 0; i < b.length; i++) if ((a.charCodeAt(i) | 0x20) !== b.charCodeAt(i)) return false;
  return true;
}

/** What the gateway reads from the client request while copying its headers. */
export interface ClientHeaders {
  /** Headers to send upstream, flat [name, value, ...], without hop-by-hop and forwarding headers. */
  readonly out: string[];
  host: string | undefined;
  contentLength: string | undefined;
  transferEncoding: string | undefined;
  requestId: string | undefined;
  forwardedFor: string | undefined;
  connection: string | undefined;
  upgrade: string | undefined;
}

export function scanRequestHeaders(raw: readonly string[]): ClientHeaders {
  const out: string[] = [];
  const h: ClientHeaders = { out, host: undefined, contentLength: undefined, transferEncoding: undefined, requestId: undefined, forwardedFor: undefined, connection: undefined, upgrade: undefined };
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    // HTTP/2 pseudo-headers: :authority is the Host; the others are not headers upstream.
    if (name.charCodeAt(0) === 58) {
      if (name === ':authority' && h.host === undefined) h.host = value;
      continue;
    }
    switch (name.length) {
      case 2:
        if (lowerEq(name, 'te')) continue;
        break;
      case 4:
        if (lowerEq(name, 'host')) {
          h.host = value;
          continue;
        }
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
        if (lowerEq(name, 'content-length')) h.contentLength = value;
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
    out.push(name, value);
  }
  if (h.connection !== undefined) dropConnectionTokens(out, h.connection);
  return h;
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
