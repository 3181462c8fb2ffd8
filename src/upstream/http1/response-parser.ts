import { CR, HEX, HTAB, LF, SP, TOKEN } from '../../http/chars.js';
import { ResponseParseError } from './errors.js';

/** What the parser tells its connection while it reads one response. */
export interface ResponseSink {
  /** The final head (status >= 200, or 101 when an upgrade was asked for). */
  onHead(status: number, headers: string[]): void;
  /** A piece of body (a view into the socket's chunk). False: stop until resume(). */
  onBody(chunk: Buffer): boolean;
}

// Parser states. DONE: the response is complete; UPGRADE: a 101 ended the HTTP part.
export const HEAD = 0;
const BODY_LENGTH = 1;
const CHUNK_SIZE = 2;
const CHUNK_EXT = 3;
const CHUNK_SIZE_LF = 4;
const CHUNK_DATA = 5;
const CHUNK_DATA_CR = 6;
const CHUNK_DATA_LF = 7;
const TRAILERS = 8;
const BODY_CLOSE = 9;
export const DONE = 10;
export const UPGRADE = 11;
/** Stopped from outside (the exchange failed or was aborted): every further byte is ignored. */
const DEAD = 12;

const COLON = 58;
const SEMI = 59;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
/** Bytes of chunk extensions accepted per chunk (they are skipped, never used). */
const MAX_CHUNK_EXT = 1024;
/** 12 hex digits = 2^48 bytes: larger sizes are refused rather than risking float rounding. */
const MAX_SIZE_DIGITS = 12;


/** A byte not allowed in a header value or reason phrase: controls other than HTAB, and DEL. */
function badValueByte(c: number): boolean {
  return (c < SP && c !== HTAB) || c === 127;
}

/** Bytes [s, s + name.length) equal `name` (lower case) ignoring case. Names are tchar, so |0x20 is safe. */
function nameIs(d: Buffer, s: number, e: number, name: string): boolean {
  if (e - s !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (((d[s + i] as number) | 0x20) !== name.charCodeAt(i)) return false;
  return true;
}

/** Buffer#latin1Slice: Node's own, without toString's argument handling (not in @types/node). */
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

function same(b: Buffer): Buffer {
  return b;
}

function copyOf(b: Buffer): Buffer {
  return Buffer.from(b);
}

function fail(reason: string): never {
  throw new ResponseParseError('MERIDIAN_ERR_UPSTREAM_BAD_RESPONSE', reason);
}

/**
 * A strict HTTP/1.1 response parser over Buffers: one pass over the head bytes (no regex, no
 * string split), body bytes handed on as views of the socket's chunks. Ambiguity is an error,
 * never a guess: duplicate Content-Length, Content-Length with Transfer-Encoding, a
 * Transfer-Encoding other than chunked, obs-fold, bare CR or LF, control characters,
 * bad chunk sizes. Memory: a partial head or trailer section is kept up to maxHeadBytes;
 * when the sink stops (backpressure), the rest of the current chunk is kept in `rest`.
 */
export class ResponseParser {
  state = HEAD;
  status = 0;
  /** HTTP/1.x minor version of the response. */
  minor = 1;
  /** The connection may carry another exchange after this response (as far as the response says). */
  keepAlive = true;
  /** The upstream's `Keep-Alive: timeout=N` in ms, or -1. */
  keepAliveHintMs = -1;
  headers: string[] = [];
  trailers: string[] | null = null;
  /** Bytes after where parsing stopped (paused, done, upgrade); null when none. */
  rest: Buffer | null = null;
  /** The sink returned false: waiting for resume(). */
  paused = false;

  private noBody = false;
  private expectUpgrade = false;
  private remaining = 0;
  private digits = 0;
  private extBytes = 0;
  private contentLength = -1;
  private chunked = false;
  private connClose = false;
  private connKeepAlive = false;
  /** An incomplete head or trailer section; scanFrom: where to resume looking for its end. */
  private pending: Buffer | null = null;
  private scanFrom = 0;

  /** Bytes kept past execute() (a partial head, the rest after a pause): copied when the caller reuses its buffers. */
  private readonly keep: (b: Buffer) => Buffer;

  constructor(
    private readonly sink: ResponseSink,
    private readonly maxHeadBytes: number,
    /** The chunks given to execute() are reused after it returns (node:net's onread buffer). */
    chunksReused = false,
  ) {
    this.keep = chunksReused ? copyOf : same;
  }

  /** Ready for the response to a new request. */
  reset(headRequest: boolean, upgradeRequest: boolean): void {
    this.state = HEAD;
    this.noBody = headRequest;
    this.expectUpgrade = upgradeRequest;
    this.trailers = null;
    this.rest = null;
    this.paused = false;
    this.pending = null;
    this.startMessage();
  }

  private startMessage(): void {
    this.status = 0;
    this.minor = 1;
    this.keepAlive = true;
    this.keepAliveHintMs = -1;
    this.contentLength = -1;
    this.chunked = false;
    this.connClose = false;
    this.connKeepAlive = false;
    this.headers = [];
  }

  /** No more bytes are wanted (the exchange failed, was aborted or handed off). */
  stop(): void {
    this.state = DEAD;
    this.rest = null;
    this.pending = null;
  }

  /** Parses as much of `chunk` as it can; see state, paused and rest for where it stopped. */
  execute(chunk: Buffer): void {
    let data = chunk;
    const pending = this.pending;
    if (pending !== null) {
      this.pending = null;
      data = Buffer.concat([pending, chunk]);
      this.scanFrom = pending.length > 3 ? pending.length - 3 : 0;
    } else this.scanFrom = 0;
    this.run(data, 0);
  }

  /** Continues after a pause with the bytes kept in `rest`. */
  resume(): void {
    this.paused = false;
    const rest = this.rest;
    this.rest = null;
    if (rest !== null) {
      this.scanFrom = 0;
      this.run(rest, 0);
    }
  }

  /** Keeps bytes that came while paused, after those already kept. */
  hold(chunk: Buffer): void {
    this.rest = this.rest === null ? this.keep(chunk) : Buffer.concat([this.rest, chunk]);
  }

  /** The peer closed the connection: true when that ends the response (close-delimited body). */
  endOfInput(): boolean {
    if (this.state !== BODY_CLOSE) return false;
    this.state = DONE;
    return true;
  }

  private run(d: Buffer, start: number): void {
    const len = d.length;
    let i = start;
    while (i < len) {
      switch (this.state) {
        case HEAD:
        case TRAILERS: {
          const end = this.sectionEnd(d, i);
          if (end < 0) {
            if (len - i > this.maxHeadBytes) throw new ResponseParseError('MERIDIAN_ERR_UPSTREAM_HEAD_TOO_LARGE', `over ${this.maxHeadBytes} bytes`);
            this.pending = this.keep(i === 0 ? d : d.subarray(i));
            return;
          }
          if (end - i > this.maxHeadBytes) throw new ResponseParseError('MERIDIAN_ERR_UPSTREAM_HEAD_TOO_LARGE', `over ${this.maxHeadBytes} bytes`);
          this.scanFrom = end;
          if (this.state === TRAILERS) {
            if (end - i > 2) {
              const trailers: string[] = [];
              this.parseFields(d, i, trailers, false);
              this.trailers = trailers;
            }
            this.state = DONE;
          } else this.onHeadSection(d, i, end);
          i = end;
          break;
        }
        case BODY_LENGTH: {
          const n = Math.min(this.remaining, len - i);
          this.remaining -= n;
          const piece = d.subarray(i, i + n);
          i += n;
          if (this.remaining === 0) this.state = DONE;
          if (!this.sink.onBody(piece) && this.state !== DONE) this.paused = true;
          break;
        }
        case CHUNK_SIZE: {
          const c = d[i] as number;
          const h = (HEX[c] as number) - 1; // the table holds value + 1
          if (h >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) fail('chunk size too large');
            this.remaining = this.remaining * 16 + h;
          } else if (this.digits === 0) fail('bad chunk size');
          else if (c === CR) this.state = CHUNK_SIZE_LF;
          else if (c === SEMI) this.state = CHUNK_EXT;
          else fail('bad chunk size');
          i++;
          break;
        }
        case CHUNK_EXT: {
          const c = d[i] as number;
          if (c === CR) this.state = CHUNK_SIZE_LF;
          else if (badValueByte(c) || ++this.extBytes > MAX_CHUNK_EXT) fail('bad chunk extension');
          i++;
          break;
        }
        case CHUNK_SIZE_LF:
          if (d[i] !== LF) fail('bad chunk size line');
          i++;
          this.digits = 0;
          this.extBytes = 0;
          this.state = this.remaining === 0 ? TRAILERS : CHUNK_DATA;
          break;
        case CHUNK_DATA: {
          const n = Math.min(this.remaining, len - i);
          this.remaining -= n;
          const piece = d.subarray(i, i + n);
          i += n;
          if (this.remaining === 0) this.state = CHUNK_DATA_CR;
          if (!this.sink.onBody(piece)) this.paused = true;
          break;
        }
        case CHUNK_DATA_CR:
          if (d[i] !== CR) fail('chunk data longer than its size');
          i++;
          this.state = CHUNK_DATA_LF;
          break;
        case CHUNK_DATA_LF:
          if (d[i] !== LF) fail('bad chunk ending');
          i++;
          this.state = CHUNK_SIZE;
          break;
        case BODY_CLOSE: {
          const piece = i === 0 ? d : d.subarray(i);
          i = len;
          if (!this.sink.onBody(piece)) this.paused = true;
          break;
        }
        default:
          // DONE, UPGRADE: the rest is the caller's to judge; DEAD: ignored.
          if (this.state !== DEAD) this.rest = this.keep(d.subarray(i));
          return;
      }
      if (this.paused) {
        if (this.state === DEAD) return;
        if (i < len) this.rest = this.keep(d.subarray(i));
        return;
      }
    }
  }

  /** Index just after the blank line ending a head or trailer section at i, or -1 if not in d yet. */
  private sectionEnd(d: Buffer, i: number): number {
    if (this.state === TRAILERS) {
      if (d.length - i < 2) return -1;
      if (d[i] === CR) {
        if (d[i + 1] !== LF) fail('bad trailer section');
        return i + 2;
      }
    }
    const at = d.indexOf(CRLFCRLF, this.scanFrom > i ? this.scanFrom : i);
    return at < 0 ? -1 : at + 4;
  }

  private onHeadSection(d: Buffer, s: number, end: number): void {
    let i = this.statusLine(d, s);
    i = this.parseFields(d, i, this.headers, true);
    if (i !== end) fail('malformed head');
    const status = this.status;
    if (status < 200) {
      if (status === 101) {
        if (!this.expectUpgrade) fail('101 without an upgrade request');
        this.state = UPGRADE;
        this.keepAlive = false;
        this.sink.onHead(status, this.headers);
        return;
      }
      // 100, 102, 103...: informational, the final answer follows.
      this.startMessage();
      return;
    }
    if (this.contentLength >= 0 && this.chunked) fail('both content-length and transfer-encoding');
    this.keepAlive = this.minor === 0 ? this.connKeepAlive && !this.connClose : !this.connClose;
    if (this.noBody || status === 204 || status === 304) this.state = DONE;
    else if (this.chunked) {
      this.state = CHUNK_SIZE;
      this.remaining = 0;
      this.digits = 0;
      this.extBytes = 0;
    } else if (this.contentLength >= 0) {
      this.remaining = this.contentLength;
      this.state = this.contentLength === 0 ? DONE : BODY_LENGTH;
    } else {
      this.state = BODY_CLOSE;
      this.keepAlive = false;
    }
    this.sink.onHead(status, this.headers);
  }

  /** `HTTP/1.x NNN reason CRLF`; returns the index after it. */
  private statusLine(d: Buffer, s: number): number {
    // 'HTTP/1.' then the minor version, a space and three digits.
    if (d[s] !== 72 || d[s + 1] !== 84 || d[s + 2] !== 84 || d[s + 3] !== 80 || d[s + 4] !== 47 || d[s + 5] !== 49 || d[s + 6] !== 46) fail('bad status line');
    const minor = (d[s + 7] as number) - 48;
    if ((minor !== 0 && minor !== 1) || d[s + 8] !== SP) fail('bad status line');
    const a = (d[s + 9] as number) - 48;
    const b = (d[s + 10] as number) - 48;
    const c = (d[s + 11] as number) - 48;
    if (a < 1 || a > 5 || b < 0 || b > 9 || c < 0 || c > 9) fail('bad status code');
    this.minor = minor;
    this.status = a * 100 + b * 10 + c;
    let i = s + 12;
    if (d[i] === SP) {
      i++;
      for (let x = d[i] as number; x !== CR; x = d[++i] as number) if (badValueByte(x)) fail('bad reason phrase');
    }
    if (d[i] !== CR || d[i + 1] !== LF) fail('bad status line');
    return i + 2;
  }

  /** Header lines up to and including the blank line; returns the index after it. */
  private parseFields(d: Buffer, start: number, out: string[], head: boolean): number {
    let i = start;
    for (;;) {
      if (d[i] === CR) {
        if (d[i + 1] !== LF) fail('bare CR');
        return i + 2;
      }
      const ns = i;
      while (TOKEN[d[i] as number] === 1) i++;
      // A space or tab here is obs-fold (line start) or whitespace before the colon: both refused.
      if (d[i] !== COLON || i === ns) fail('bad header name');
      const ne = i++;
      while (d[i] === SP || d[i] === HTAB) i++;
      const vs = i;
      let ve = i;
      for (let c = d[i] as number; c !== CR; c = d[i] as number) {
        if (badValueByte(c)) fail('bad character in header value');
        i++;
        if (c !== SP && c !== HTAB) ve = i;
      }
      if (d[i + 1] !== LF) fail('bare CR');
      const value = (d as Latin1Buffer).latin1Slice(vs, ve);
      out.push((d as Latin1Buffer).latin1Slice(ns, ne), value);
      if (head) this.noteHeader(d, ns, ne, value);
      i += 2;
    }
  }

  /** The headers that frame the body or decide reuse. */
  private noteHeader(d: Buffer, ns: number, ne: number, value: string): void {
    switch (ne - ns) {
      case 14:
        if (nameIs(d, ns, ne, 'content-length')) {
          if (this.contentLength >= 0) fail('more than one content-length');
          this.contentLength = parseLength(value);
        }
        break;
      case 17:
        if (nameIs(d, ns, ne, 'transfer-encoding')) {
          if (this.chunked) fail('more than one transfer-encoding');
          // Only `chunked` alone: another coding under it would reach the client undeclared once
          // the hop-by-hop header is dropped, and without a final chunked the framing is close-delimited.
          if (value.length !== 7 || value.toLowerCase() !== 'chunked') fail('transfer-encoding other than chunked');
          this.chunked = true;
        }
        break;
      case 10:
        if (nameIs(d, ns, ne, 'connection')) {
          const v = value.toLowerCase();
          if (v.includes('close')) this.connClose = true;
          if (v.includes('keep-alive')) this.connKeepAlive = true;
        } else if (nameIs(d, ns, ne, 'keep-alive')) {
          const at = value.toLowerCase().indexOf('timeout=');
          if (at >= 0) {
            const n = Number.parseInt(value.slice(at + 8), 10);
            if (n >= 0) this.keepAliveHintMs = n * 1000;
          }
        }
        break;
    }
  }
}

/** A Content-Length value: 1 to 15 digits, nothing else (no list, no sign, no spaces). */
function parseLength(v: string): number {
  if (v.length === 0 || v.length > 15) fail('bad content-length');
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) fail('bad content-length');
    n = n * 10 + c;
  }
  return n;
}
