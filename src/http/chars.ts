/**
 * Byte classes of RFC 9110/9112, as lookup tables so the parser tests a byte with one load
 * instead of a regular expression.
 */

function table(pred: (b: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) t[b] = pred(b) ? 1 : 0;
  return t;
}

const TCHAR_PUNCT = "!#$%&'*+-.^_`|~";

/** tchar: what a token (method, header name, chunk extension name) may hold. */
export const TOKEN: Uint8Array = table((b) =>
  (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || TCHAR_PUNCT.includes(String.fromCharCode(b)));

/** field-vchar / SP / HTAB / obs-text: a header value byte; every other control byte (NUL, CR, LF, DEL...) is refused. */
export const VALUE: Uint8Array = table((b) => b === 0x09 || (b >= 0x20 && b !== 0x7f));

/** A request-target byte: visible ASCII only (what llhttp's strict mode allows); no space, no control, no byte above 0x7e. */
export const URL: Uint8Array = table((b) => b > 0x20 && b < 0x7f);

/** qdtext of a quoted chunk-extension value (the quote and the backslash are handled apart). */
export const QDTEXT: Uint8Array = table((b) => b === 0x09 || b === 0x20 || b === 0x21 || (b >= 0x23 && b <= 0x5b) || (b >= 0x5d && b <= 0x7e) || b >= 0x80);

/** Hex digit value + 1 (0 = not a hex digit). */
export const HEX: Uint8Array = table(() => false);
for (let d = 0; d < 10; d++) HEX[0x30 + d] = d + 1;
for (let d = 0; d < 6; d++) { HEX[0x41 + d] = d + 11; HEX[0x61 + d] = d + 11; }

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;

/** The methods llhttp and node:http know (http.METHODS); anything else is refused, as they do. */
export const METHODS: ReadonlySet<string> = new Set([
  'ACL', 'BIND', 'CHECKOUT', 'CONNECT', 'COPY', 'DELETE', 'GET', 'HEAD', 'LINK', 'LOCK', 'M-SEARCH', 'MERGE',
  'MKACTIVITY', 'MKCALENDAR', 'MKCOL', 'MOVE', 'NOTIFY', 'OPTIONS', 'PATCH', 'POST', 'PROPFIND', 'PROPPATCH',
  'PURGE', 'PUT', 'QUERY', 'REBIND', 'REPORT', 'SEARCH', 'SOURCE', 'SUBSCRIBE', 'TRACE', 'UNBIND', 'UNLINK',
  'UNLOCK', 'UNSUBSCRIBE',
]);

interface Latin1Buffer { latin1Slice(start: number, end: number): string }

/** buf.toString('latin1', start, end) without the encoding switch (Buffer's own fast path). */
export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as Latin1Buffer).latin1Slice(start, end);
}

/** Whether buf[start, start + lower.length) equals `lower` ignoring ASCII case (lower holds lowercase bytes). */
export function equalsLower(buf: Buffer, start: number, lower: Uint8Array): boolean {
  for (let i = 0; i < lower.length; i++) {
    if (((buf[start + i] as number) | 0x20) !== lower[i]) return false;
  }
  return true;
}

export function bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}
