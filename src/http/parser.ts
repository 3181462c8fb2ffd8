/**
 * A strict, incremental HTTP/1.1 request parser working on Buffers.
 *
 * Heads and chunk-size lines are read a line at a time: the next LF is found with the native
 * Buffer#indexOf (resumed where the previous search stopped, so a trickled head costs O(n)),
 * then the line is checked byte by byte against the tables of chars.ts. Bodies are counted,
 * never copied: the body callback gets subarrays of the socket's chunks.
 *
 * What is ambiguous is refused, never guessed (see README.md, "What is refused"): the first
 * error stops the parser for good, since the framing of what follows can no longer be known.
 */
import {
  CR, LF, SP, HTAB, TOKEN, VALUE, URL, QDTEXT, HEX, METHODS, latin1, equalsLower, bytes,
} from './chars.js';

export type HttpErrorCode =
  | 'MERIDIAN_ERR_HTTP_BAD_REQUEST_LINE' | 'MERIDIAN_ERR_HTTP_BAD_METHOD' | 'MERIDIAN_ERR_HTTP_BAD_URL'
  | 'MERIDIAN_ERR_HTTP_BAD_VERSION' | 'MERIDIAN_ERR_HTTP_BAD_LINE_ENDING' | 'MERIDIAN_ERR_HTTP_BAD_HEADER_NAME'
  | 'MERIDIAN_ERR_HTTP_SPACE_BEFORE_COLON' | 'MERIDIAN_ERR_HTTP_BAD_HEADER_VALUE' | 'MERIDIAN_ERR_HTTP_OBS_FOLD'
  | 'MERIDIAN_ERR_HTTP_BAD_CONTENT_LENGTH' | 'MERIDIAN_ERR_HTTP_DUPLICATE_CONTENT_LENGTH'
  | 'MERIDIAN_ERR_HTTP_LENGTH_AND_CHUNKED' | 'MERIDIAN_ERR_HTTP_BAD_TRANSFER_ENCODING'
  | 'MERIDIAN_ERR_HTTP_MISSING_HOST' | 'MERIDIAN_ERR_HTTP_DUPLICATE_HOST' | 'MERIDIAN_ERR_HTTP_BAD_CHUNK'
  | 'MERIDIAN_ERR_HTTP_CHUNK_TOO_LARGE' | 'MERIDIAN_ERR_HTTP_DATA_AFTER_CLOSE'
  | 'MERIDIAN_ERR_HTTP_HEADERS_TOO_LARGE' | 'MERIDIAN_ERR_HTTP_TOO_MANY_HEADERS' | 'MERIDIAN_ERR_HTTP_URL_TOO_LONG';

export interface ParserLimits {
  /** Request line + headers (and, separately, the trailers), in bytes; 431 above. */
  maxHeaderBytes: number;
  /** Header count (and, separately, trailer count); 431 above. */
  maxHeaders: number;
  /** Request-target length in bytes; 414 above. */
  maxUrlLength: number;
  /** Refuse an HTTP/1.1 request without Host (RFC 9112 3.2). Off only to compare with llhttp, which accepts it. */
  requireHost: boolean;
}

export const DEFAULT_PARSER_LIMITS: ParserLimits = {
  maxHeaderBytes: 16_384, maxHeaders: 100, maxUrlLength: 8_192, requireHost: true,
};

/** The head of one request, as the parser hands it over. */
export interface RequestHead {
  method: string;
  /** The raw request-target, as sent. */
  url: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor: number;
  /** [name, value, name, value, ...] as sent (names keep their case, values without surrounding whitespace). */
  rawHeaders: string[];
  host: string | undefined;
  /** -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** Transfer-Encoding, the header values joined with ", " (undefined when absent). */
  transferEncoding: string | undefined;
  /** Connection, the header values joined with ", ". */
  connection: string | undefined;
  upgrade: string | undefined;
  expect: string | undefined;
  /** Whether the connection may carry another request after this one (HTTP/1.0 and 1.1 rules). */
  keepAlive: boolean;
  /** CONNECT, or Connection: upgrade with an Upgrade header: the bytes after this message are another protocol's. */
  upgradeRequested: boolean;
  /** Bytes of the head, request line to the empty line (leading empty lines included). */
  headBytes: number;
}

export interface ParserHandler {
  onHead(head: RequestHead): void;
  onBody(chunk: Buffer): void;
  /** trailers: [name, value, ...] of a chunked body's trailer section (empty when none). */
  onMessageComplete(trailers: string[]): void;
}

const enum State { Head, BodyLength, ChunkSize, ChunkData, ChunkDataEnd, Trailers, Closed, Upgraded, Error }

const HOST = bytes('host');
const CONTENT_LENGTH = bytes('content-length');
const TRANSFER_ENCODING = bytes('transfer-encoding');
const CONNECTION = bytes('connection');
const UPGRADE = bytes('upgrade');
const EXPECT = bytes('expect');
const CHUNKED = bytes('chunked');
const CLOSE = bytes('close');
const KEEP_ALIVE = bytes('keep-alive');
const UPGRADE_TOKEN = UPGRADE;

const MAX_CHUNK_LINE = 4_096;
const VERSION_PREFIX = bytes('HTTP/1.');
const EMPTY = Buffer.alloc(0);

export class ParseError extends Error {
  constructor(readonly code: HttpErrorCode, readonly reason: string) {
    super(reason);
    this.name = 'ParseError';
  }
}

/**
 * One parser per connection. push() bytes; the handler is called for each head, body chunk and
 * message end. pause() from inside a callback stops the parser after that callback (the rest
 * stays buffered here) until resume().
 */
export class RequestParser {
  /** Body bytes received for the current message (after chunked decoding). */
  bodyBytes = 0;
  error: ParseError | null = null;

  private buf: Buffer = EMPTY;
  private pos = 0;
  private scan = 0;
  private state = State.Head;
  private paused = false;
  private running = false;

  // head under construction
  private msgStart = 0;
  private headOpen = false;
  private lineStart = 0;
  private head: RequestHead | null = null;
  private headerCount = 0;
  private teCodings = 0;
  private teChunkedLast = false;
  private teChunkedCount = 0;
  private connClose = false;
  private connKeepAlive = false;
  private connUpgrade = false;
  private remaining = 0;
  private trailers: string[] = [];

  constructor(private readonly handler: ParserHandler, private readonly limits: ParserLimits = DEFAULT_PARSER_LIMITS) {}

  /** Bytes held but not parsed yet (bounded: the engine stops reading while it holds any). */
  get buffered(): number { return this.buf.length - this.pos; }
  get isPaused(): boolean { return this.paused; }
  get upgraded(): boolean { return this.state === State.Upgraded; }
  /** Between messages, nothing of the next one received. */
  get idle(): boolean { return this.state === State.Head && !this.headOpen && this.pos >= this.buf.length; }
  /** Inside a head (at least one byte of it received). */
  get inHead(): boolean { return this.state === State.Head && (this.headOpen || this.buf.length > this.pos); }
  /** Inside a body (head done, message not complete). */
  get inBody(): boolean { return this.state >= State.BodyLength && this.state <= State.Trailers; }

  push(chunk: Buffer): void {
    if (this.state === State.Error) return;
    const keep = this.keepFrom();
    this.rebase(keep, keep >= this.buf.length ? chunk : Buffer.concat([this.buf.subarray(keep), chunk]));
    if (!this.paused) this.run();
  }

  /**
   * What is kept of the pushed bytes copied out of them: the caller reuses the memory of the
   * chunks it pushed (a shared read buffer). Body chunks were handed out already.
   */
  release(): void {
    if (this.state === State.Error) return;
    const keep = this.keepFrom();
    this.rebase(keep, keep >= this.buf.length ? EMPTY : Buffer.from(this.buf.subarray(keep)));
  }

  /**
   * Where the bytes still needed start: inside a head or the trailers that is the current line
   * (earlier lines are strings already), elsewhere everything from pos.
   */
  private keepFrom(): number {
    const inLines = (this.state === State.Head && this.headOpen) || this.state === State.Trailers;
    return inLines ? this.lineStart : this.pos;
  }

  /** `buf` holds this.buf's bytes from `keep` on (and maybe more): offsets move with them; msgStart may go negative (the head began in an earlier chunk). */
  private rebase(keep: number, buf: Buffer): void {
    this.buf = buf;
    this.pos = Math.max(this.pos - keep, 0);
    this.scan = Math.max(this.scan - keep, 0);
    this.lineStart = Math.max(this.lineStart - keep, 0);
    this.msgStart -= keep;
    this.pvLine -= keep;
    this.pvPos = Math.max(this.pvPos - keep, 0);
  }

  pause(): void { this.paused = true; }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.run();
  }

  /** The bytes received after an upgrade (or held at the point of a pause), handed over and forgotten here. */
  takeRemaining(): Buffer {
    const rest = this.pos < this.buf.length ? this.buf.subarray(this.pos) : EMPTY;
    this.buf = EMPTY;
    this.pos = 0;
    this.scan = 0;
    this.lineStart = 0;
    return rest;
  }

  private run(): void {
    if (this.running) return; // resume() from inside a callback: the loop below carries on
    this.running = true;
    try {
      while (!this.paused && this.step()) { /* next */ }
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      this.error = err;
      this.state = State.Error;
    } finally {
      this.running = false;
    }
  }

  /** One step; false when more bytes are needed (or the parser has stopped). */
  private step(): boolean {
    switch (this.state) {
      case State.Head: return this.stepHead();
      case State.BodyLength: return this.stepBodyLength();
      case State.ChunkSize: return this.stepChunkSize();
      case State.ChunkData: return this.stepChunkData();
      case State.ChunkDataEnd: return this.stepChunkDataEnd();
      case State.Trailers: return this.stepTrailers();
      case State.Closed: return this.stepClosed();
      default: return false;
    }
  }

  // ---- head ---------------------------------------------------------------------------

  private stepHead(): boolean {
    const buf = this.buf;
    if (!this.headOpen) {
      // Empty lines before a request are skipped (RFC 9112 2.2), CRLF pairs only.
      let p = this.pos;
      while (p + 1 < buf.length && buf[p] === CR && buf[p + 1] === LF) p += 2;
      if (p >= buf.length || (p + 1 === buf.length && buf[p] === CR)) {
        this.pos = p;
        this.scan = p;
        this.lineStart = p;
        return false;
      }
      this.pos = p;
      this.msgStart = p;
      this.headOpen = true;
      this.lineStart = p;
      this.scan = p;
      this.startHead();
    }
    for (;;) {
      const end = this.nextLine('head');
      if (end === -1) {
        this.checkPartialLine(buf.length);
        return false;
      }
      const start = this.lineStart;
      this.lineStart = end + 2;
      const head = this.head as RequestHead;
      if (head.method === '') {
        this.parseRequestLine(start, end);
      } else if (end === start) {
        this.pos = end + 2;
        head.headBytes = end + 2 - this.msgStart;
        this.headOpen = false;
        return this.finishHead(head);
      } else {
        this.parseHeaderLine(start, end, head.rawHeaders, true);
      }
    }
  }

  /**
   * The next complete line from lineStart, within the byte budget of the head (or trailer
   * section) begun at msgStart: the index of its CR, or -1 while its LF has not arrived.
   */
  private nextLine(section: 'head' | 'trailers'): number {
    const buf = this.buf;
    const lf = buf.indexOf(LF, this.scan);
    const reach = lf === -1 ? buf.length : lf + 1;
    if (reach - this.msgStart > this.limits.maxHeaderBytes) {
      throw new ParseError('MERIDIAN_ERR_HTTP_HEADERS_TOO_LARGE', `${section} larger than ${this.limits.maxHeaderBytes} bytes`);
    }
    this.scan = reach;
    if (lf === -1) return -1;
    if (lf === this.lineStart || buf[lf - 1] !== CR) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_LINE_ENDING', `${section} line ended by a bare LF`);
    return lf - 1;
  }

  private checkPartialLine(end: number): void {
    const requestLine = (this.head as RequestHead).method === '';
    // A request line longer than any method + SP + the longest URL + " HTTP/1.1" is a URL too long.
    if (requestLine && end - this.lineStart > this.limits.maxUrlLength + 32) {
      throw new ParseError('MERIDIAN_ERR_HTTP_URL_TOO_LONG', `request target longer than ${this.limits.maxUrlLength} bytes`);
    }
    this.validatePartial(requestLine, end);
  }

  /**
   * Checks the bytes of a line whose LF has not arrived, so that garbage is refused when it is
   * received rather than when (if ever) the line ends. Each byte is looked at once: the
   * position and the part of the line reached are kept between calls.
   */
  private validatePartial(requestLine: boolean, end: number): void {
    const buf = this.buf;
    if (this.pvLine !== this.lineStart) {
      this.pvLine = this.lineStart;
      this.pvPos = this.lineStart;
      this.pvPart = 0;
    }
    let p = this.pvPos;
    let part = this.pvPart;
    for (; p < end; p++) {
      const b = buf[p] as number;
      if (b === CR) {
        if (p + 1 < end) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_LINE_ENDING', 'bare CR');
        break; // the LF may follow
      }
      if (requestLine) {
        if (part === 0) { // method
          if (b === SP) part = 1;
          else if (TOKEN[b] === 0) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_METHOD', 'invalid character in the method');
        } else if (part === 1) { // target
          if (b === SP) part = 2;
          else if (URL[b] === 0) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_URL', 'invalid character in the request target');
        } else { // version: "HTTP/1." then 0 or 1 (parts 2..9)
          const i = part - 2;
          const ok = i < 7 ? b === VERSION_PREFIX[i] : i === 7 && (b === 0x30 || b === 0x31);
          if (!ok) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_VERSION', 'version is not HTTP/1.0 or HTTP/1.1');
          part++;
        }
      } else if (part === 0) { // name
        if (p === this.lineStart && (b === SP || b === HTAB)) throw new ParseError('MERIDIAN_ERR_HTTP_OBS_FOLD', 'line folding (obs-fold) is not accepted');
        if (b === 0x3a) part = 1;
        else if (TOKEN[b] === 0) {
          if (b === SP || b === HTAB) throw new ParseError('MERIDIAN_ERR_HTTP_SPACE_BEFORE_COLON', 'whitespace before the colon');
          throw new ParseError('MERIDIAN_ERR_HTTP_BAD_HEADER_NAME', 'invalid character in a header name');
        }
      } else if (VALUE[b] === 0) {
        throw new ParseError('MERIDIAN_ERR_HTTP_BAD_HEADER_VALUE', 'control character in a header value');
      }
    }
    this.pvPos = p;
    this.pvPart = part;
  }

  private pvLine = -1;
  private pvPos = 0;
  private pvPart = 0;

  private startHead(): void {
    this.head = {
      method: '', url: '', versionMinor: 1, rawHeaders: [], host: undefined, contentLength: -1, chunked: false,
      transferEncoding: undefined, connection: undefined, upgrade: undefined, expect: undefined, keepAlive: true,
      upgradeRequested: false, headBytes: 0,
    };
    this.headerCount = 0;
    this.teCodings = 0;
    this.teChunkedLast = false;
    this.teChunkedCount = 0;
    this.connClose = false;
    this.connKeepAlive = false;
    this.connUpgrade = false;
  }

  private parseRequestLine(start: number, end: number): void {
    const buf = this.buf;
    const head = this.head as RequestHead;
    let p = start;
    while (p < end && buf[p] !== SP) {
      if (TOKEN[buf[p] as number] === 0) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_METHOD', 'invalid character in the method');
      p++;
    }
    if (p === start || p === end) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_REQUEST_LINE', 'request line is not method SP target SP version');
    head.method = methodOf(buf, start, p);
    const urlStart = ++p;
    while (p < end && buf[p] !== SP) {
      if (URL[buf[p] as number] === 0) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_URL', 'invalid character in the request target');
      p++;
    }
    if (p === urlStart) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_REQUEST_LINE', 'empty request target');
    if (p - urlStart > this.limits.maxUrlLength) {
      throw new ParseError('MERIDIAN_ERR_HTTP_URL_TOO_LONG', `request target longer than ${this.limits.maxUrlLength} bytes`);
    }
    head.url = latin1(buf, urlStart, p);
    // "HTTP/1.1" or "HTTP/1.0", exactly, up to the CR.
    if (p === end || end - p !== 9 || buf[p + 1] !== 0x48 || buf[p + 2] !== 0x54 || buf[p + 3] !== 0x54 || buf[p + 4] !== 0x50
      || buf[p + 5] !== 0x2f || buf[p + 6] !== 0x31 || buf[p + 7] !== 0x2e || (buf[p + 8] !== 0x31 && buf[p + 8] !== 0x30)) {
      throw new ParseError('MERIDIAN_ERR_HTTP_BAD_VERSION', 'version is not HTTP/1.0 or HTTP/1.1');
    }
    head.versionMinor = (buf[p + 8] as number) - 0x30;
  }

  /**
   * One field line, name ":" OWS value OWS. `request` marks the head (special headers are
   * interpreted there) as opposed to the trailer section.
   */
  private parseHeaderLine(start: number, end: number, into: string[], request: boolean): void {
    const buf = this.buf;
    const first = buf[start] as number;
    if (first === SP || first === HTAB) throw new ParseError('MERIDIAN_ERR_HTTP_OBS_FOLD', 'line folding (obs-fold) is not accepted');
    let p = start;
    for (;;) {
      if (p === end) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_HEADER_NAME', 'header line without a colon');
      const b = buf[p] as number;
      if (b === 0x3a) break;
      if (TOKEN[b] === 0) {
        if (b === SP || b === HTAB) throw new ParseError('MERIDIAN_ERR_HTTP_SPACE_BEFORE_COLON', 'whitespace before the colon');
        if (b === CR) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_LINE_ENDING', 'bare CR in a header line');
        throw new ParseError('MERIDIAN_ERR_HTTP_BAD_HEADER_NAME', 'invalid character in a header name');
      }
      p++;
    }
    const nameEnd = p;
    if (nameEnd === start) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_HEADER_NAME', 'empty header name');
    p++;
    while (p < end && (buf[p] === SP || buf[p] === HTAB)) p++;
    const valueStart = p;
    let valueEnd = p;
    for (; p < end; p++) {
      const b = buf[p] as number;
      if (VALUE[b] === 0) {
        if (b === CR || b === LF) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_LINE_ENDING', 'bare CR or LF in a header value');
        throw new ParseError('MERIDIAN_ERR_HTTP_BAD_HEADER_VALUE', 'control character in a header value');
      }
      if (b !== SP && b !== HTAB) valueEnd = p + 1;
    }
    if (++this.headerCount > this.limits.maxHeaders) {
      throw new ParseError('MERIDIAN_ERR_HTTP_TOO_MANY_HEADERS', `more than ${this.limits.maxHeaders} headers`);
    }
    const value = latin1(buf, valueStart, valueEnd);
    into.push(latin1(buf, start, nameEnd), value);
    if (request) this.interpret(start, nameEnd - start, valueStart, valueEnd, value);
  }

  /** The headers that decide framing and connection handling, recognised by length first. */
  private interpret(name: number, len: number, vs: number, ve: number, value: string): void {
    const buf = this.buf;
    const head = this.head as RequestHead;
    switch (len) {
      case 4:
        if (equalsLower(buf, name, HOST)) {
          if (head.host !== undefined) throw new ParseError('MERIDIAN_ERR_HTTP_DUPLICATE_HOST', 'more than one Host');
          head.host = value;
        }
        return;
      case 6:
        if (equalsLower(buf, name, EXPECT)) head.expect = head.expect === undefined ? value : `${head.expect}, ${value}`;
        return;
      case 7:
        if (equalsLower(buf, name, UPGRADE)) head.upgrade = head.upgrade === undefined ? value : `${head.upgrade}, ${value}`;
        return;
      case 10:
        if (equalsLower(buf, name, CONNECTION)) {
          head.connection = head.connection === undefined ? value : `${head.connection}, ${value}`;
          this.connectionTokens(vs, ve);
        }
        return;
      case 14:
        if (equalsLower(buf, name, CONTENT_LENGTH)) {
          if (head.contentLength !== -1) throw new ParseError('MERIDIAN_ERR_HTTP_DUPLICATE_CONTENT_LENGTH', 'more than one Content-Length');
          head.contentLength = decimal(buf, vs, ve);
        }
        return;
      case 17:
        if (equalsLower(buf, name, TRANSFER_ENCODING)) {
          head.transferEncoding = head.transferEncoding === undefined ? value : `${head.transferEncoding}, ${value}`;
          this.transferCodings(vs, ve);
        }
        return;
      default:
    }
  }

  private connectionTokens(vs: number, ve: number): void {
    const buf = this.buf;
    let p = vs;
    while (p < ve) {
      while (p < ve && (buf[p] === SP || buf[p] === HTAB || buf[p] === 0x2c)) p++;
      const s = p;
      while (p < ve && buf[p] !== 0x2c) p++;
      let e = p;
      while (e > s && (buf[e - 1] === SP || buf[e - 1] === HTAB)) e--;
      const n = e - s;
      if (n === 5 && equalsLower(buf, s, CLOSE)) this.connClose = true;
      else if (n === 10 && equalsLower(buf, s, KEEP_ALIVE)) this.connKeepAlive = true;
      else if (n === 7 && equalsLower(buf, s, UPGRADE_TOKEN)) this.connUpgrade = true;
    }
  }

  /** Transfer-Encoding: a list of tokens (no parameters, no empty members) whose one `chunked` is the last. */
  private transferCodings(vs: number, ve: number): void {
    const buf = this.buf;
    if (vs === ve) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_TRANSFER_ENCODING', 'empty Transfer-Encoding');
    let p = vs;
    for (;;) {
      while (p < ve && (buf[p] === SP || buf[p] === HTAB)) p++;
      const s = p;
      while (p < ve && TOKEN[buf[p] as number] === 1) p++;
      if (p === s) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_TRANSFER_ENCODING', 'empty or invalid transfer coding');
      const isChunked = p - s === 7 && equalsLower(buf, s, CHUNKED);
      this.teCodings++;
      if (isChunked) this.teChunkedCount++;
      this.teChunkedLast = isChunked;
      while (p < ve && (buf[p] === SP || buf[p] === HTAB)) p++;
      if (p === ve) return;
      if (buf[p] !== 0x2c) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_TRANSFER_ENCODING', 'transfer coding with parameters or invalid separator');
      p++;
    }
  }

  private finishHead(head: RequestHead): boolean {
    if (head.versionMinor === 1 && head.host === undefined && this.limits.requireHost) {
      throw new ParseError('MERIDIAN_ERR_HTTP_MISSING_HOST', 'HTTP/1.1 request without Host');
    }
    if (this.teCodings > 0) {
      if (head.contentLength !== -1) throw new ParseError('MERIDIAN_ERR_HTTP_LENGTH_AND_CHUNKED', 'Content-Length together with Transfer-Encoding');
      if (!this.teChunkedLast || this.teChunkedCount !== 1) {
        throw new ParseError('MERIDIAN_ERR_HTTP_BAD_TRANSFER_ENCODING', 'Transfer-Encoding does not end with a single chunked');
      }
      head.chunked = true;
    }
    head.keepAlive = head.versionMinor === 1 ? !this.connClose : this.connKeepAlive && !this.connClose;
    const connect = head.method === 'CONNECT';
    head.upgradeRequested = connect || (this.connUpgrade && head.upgrade !== undefined);
    this.bodyBytes = 0;
    this.head = null;
    this.handler.onHead(head);
    if (connect) return this.complete(head, []);
    if (head.chunked) {
      this.state = State.ChunkSize;
      this.lineStart = this.pos;
      this.scan = this.pos;
      this.currentHead = head;
      return true;
    }
    if (head.contentLength > 0) {
      this.remaining = head.contentLength;
      this.state = State.BodyLength;
      this.currentHead = head;
      return true;
    }
    return this.complete(head, []);
  }

  private currentHead: RequestHead | null = null;

  private complete(head: RequestHead, trailers: string[]): boolean {
    this.currentHead = null;
    this.state = head.upgradeRequested ? State.Upgraded : head.keepAlive ? State.Head : State.Closed;
    this.handler.onMessageComplete(trailers);
    return this.state !== State.Upgraded;
  }

  // ---- bodies -------------------------------------------------------------------------

  /** The body bytes at hand, up to what the current length or chunk has left (counted as read). */
  private takeBody(): Buffer | undefined {
    const avail = this.buf.length - this.pos;
    if (avail === 0) return undefined;
    const n = avail < this.remaining ? avail : this.remaining;
    const chunk = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.remaining -= n;
    this.bodyBytes += n;
    return chunk;
  }

  private stepBodyLength(): boolean {
    const chunk = this.takeBody();
    if (chunk === undefined) return false;
    this.handler.onBody(chunk);
    if (this.remaining === 0) return this.complete(this.currentHead as RequestHead, []);
    return true;
  }

  private stepChunkSize(): boolean {
    const buf = this.buf;
    const lf = buf.indexOf(LF, this.scan);
    if (lf === -1) {
      this.scan = buf.length;
      if (buf.length - this.pos > MAX_CHUNK_LINE) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_CHUNK', 'chunk-size line too long');
      return false;
    }
    if (lf - this.pos > MAX_CHUNK_LINE) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_CHUNK', 'chunk-size line too long');
    if (lf === this.pos || buf[lf - 1] !== CR) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_CHUNK', 'chunk-size line not ended by CRLF');
    const end = lf - 1;
    let p = this.pos;
    let size = 0;
    while (p < end) {
      const h = HEX[buf[p] as number] as number;
      if (h === 0) break;
      if (size > 0x1ffffffffffff) throw new ParseError('MERIDIAN_ERR_HTTP_CHUNK_TOO_LARGE', 'chunk size overflows');
      size = size * 16 + h - 1;
      p++;
    }
    if (p === this.pos) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_CHUNK', 'invalid character in chunk size');
    if (p < end) {
      if (buf[p] !== 0x3b) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_CHUNK', 'invalid character in chunk size');
      checkChunkExtensions(buf, p, end);
    }
    this.pos = lf + 1;
    this.scan = this.pos;
    if (size === 0) {
      this.state = State.Trailers;
      this.lineStart = this.pos;
      this.msgStart = this.pos; // the trailer section has its own byte budget
      this.headerCount = 0;
      this.trailers = [];
      return true;
    }
    this.remaining = size;
    this.state = State.ChunkData;
    return true;
  }

  private stepChunkData(): boolean {
    const chunk = this.takeBody();
    if (chunk === undefined) return false;
    if (this.remaining === 0) this.state = State.ChunkDataEnd;
    this.handler.onBody(chunk);
    return true;
  }

  private stepChunkDataEnd(): boolean {
    const buf = this.buf;
    if (buf.length - this.pos < 2) {
      if (buf.length > this.pos && buf[this.pos] !== CR) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_CHUNK', 'chunk data not followed by CRLF');
      return false;
    }
    if (buf[this.pos] !== CR || buf[this.pos + 1] !== LF) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_CHUNK', 'chunk data not followed by CRLF');
    this.pos += 2;
    this.scan = this.pos;
    this.state = State.ChunkSize;
    return true;
  }

  private stepTrailers(): boolean {
    for (;;) {
      const end = this.nextLine('trailers');
      if (end === -1) return false;
      const start = this.lineStart;
      this.lineStart = end + 2;
      if (end === start) {
        this.pos = end + 2;
        return this.complete(this.currentHead as RequestHead, this.trailers);
      }
      this.parseHeaderLine(start, end, this.trailers, false);
    }
  }

  /** After a message that closes the connection: empty lines are tolerated, anything else is an error. */
  private stepClosed(): boolean {
    const buf = this.buf;
    while (this.pos < buf.length && (buf[this.pos] === CR || buf[this.pos] === LF)) this.pos++;
    if (this.pos < buf.length) throw new ParseError('MERIDIAN_ERR_HTTP_DATA_AFTER_CLOSE', 'data after a request that closes the connection');
    return false;
  }
}

const GET = 'GET';
const POST = 'POST';
const PUT = 'PUT';
const HEAD = 'HEAD';

/** The method as one of the constant strings of METHODS (no allocation for the common four). */
function methodOf(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  const c = buf[start];
  if (n === 3 && c === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54) return GET;
  if (n === 4 && c === 0x50 && buf[start + 1] === 0x4f && buf[start + 2] === 0x53 && buf[start + 3] === 0x54) return POST;
  if (n === 3 && c === 0x50 && buf[start + 1] === 0x55 && buf[start + 2] === 0x54) return PUT;
  if (n === 4 && c === 0x48 && buf[start + 1] === 0x45 && buf[start + 2] === 0x41 && buf[start + 3] === 0x44) return HEAD;
  const m = latin1(buf, start, end);
  if (!METHODS.has(m)) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_METHOD', 'unknown method');
  return m;
}

/** 1*DIGIT, at most 2^53 - 1. */
function decimal(buf: Buffer, s: number, e: number): number {
  if (s === e) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_CONTENT_LENGTH', 'empty Content-Length');
  let n = 0;
  for (let p = s; p < e; p++) {
    const d = (buf[p] as number) - 0x30;
    if (d < 0 || d > 9) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_CONTENT_LENGTH', 'Content-Length is not a decimal number');
    n = n * 10 + d;
    if (n > Number.MAX_SAFE_INTEGER) throw new ParseError('MERIDIAN_ERR_HTTP_BAD_CONTENT_LENGTH', 'Content-Length overflows');
  }
  return n;
}

/** chunk-ext = *( ";" token [ "=" ( token / quoted-string ) ] ), no whitespace (as llhttp strict). */
function checkChunkExtensions(buf: Buffer, p: number, end: number): void {
  const bad = (): never => { throw new ParseError('MERIDIAN_ERR_HTTP_BAD_CHUNK', 'invalid chunk extension'); };
  while (p < end) {
    if (buf[p] !== 0x3b) bad();
    p++;
    const ns = p;
    while (p < end && TOKEN[buf[p] as number] === 1) p++;
    if (p === ns) bad();
    if (p === end || buf[p] === 0x3b) continue;
    if (buf[p] !== 0x3d) bad();
    p++;
    if (p < end && buf[p] === 0x22) {
      p++;
      for (;;) {
        if (p >= end) bad();
        const b = buf[p] as number;
        if (b === 0x22) { p++; break; }
        if (b === 0x5c) {
          const q = buf[p + 1] as number;
          if (p + 1 >= end || !(q === HTAB || (q >= 0x20 && q !== 0x7f))) bad();
          p += 2;
          continue;
        }
        if (QDTEXT[b] === 0) bad();
        p++;
      }
    } else {
      const vs = p;
      while (p < end && TOKEN[buf[p] as number] === 1) p++;
      if (p === vs) bad();
    }
  }
}
