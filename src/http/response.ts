/**
 * The response writer: status line and headers serialised once, written together with the first
 * body bytes (one writev through cork/uncork), Content-Length or chunked framing, HEAD and
 * bodiless statuses, Connection handling. write() returns the socket's answer so the caller can
 * honour backpressure (onDrain).
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { TOKEN } from './chars.js';

export interface ResponseOwner {
  /** The response is complete on the wire; closeAfter: the connection must not carry another request. */
  responseFinished(closeAfter: boolean): void;
  /** The response cannot be completed: the connection is closed. */
  responseFailed(err: Error): void;
}

const enum Framing { None, Length, Chunked, Close }

const CRLF = '\r\n';
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
/** Up to this many body bytes, head and body are copied into one buffer for one write. */
const SINGLE_WRITE_MAX = 16 * 1024;

type Latin1Buffer = Buffer & { latin1Write(s: string, offset: number): number };

/** prefix + body + suffix in one buffer (prefix and suffix latin1: the head is checked to be). */
function joinLatin1(prefix: string, body: Buffer, suffix: string): Buffer {
  const out = Buffer.allocUnsafe(prefix.length + body.length + suffix.length) as Latin1Buffer;
  out.latin1Write(prefix, 0);
  body.copy(out, prefix.length);
  if (suffix.length > 0) out.latin1Write(suffix, prefix.length + body.length);
  return out;
}

/** `HTTP/1.1 <status> <reason>\r\n` per status, built on first use. */
const STATUS_LINES: string[] = [];
function statusLine(status: number): string {
  return (STATUS_LINES[status] ??= `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`);
}

let dateSecond = 0;
let dateValue = '';
/** The Date header value, formatted once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = now - (now % 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second).toUTCString();
  }
  return dateValue;
}

export class InvalidHeaderError extends Error {
  constructor(what: string) {
    super(`invalid response header ${what}`);
    this.name = 'InvalidHeaderError';
  }
}

function checkName(name: string): void {
  if (name.length === 0) throw new InvalidHeaderError('name (empty)');
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 255 || TOKEN[c] === 0) throw new InvalidHeaderError(`name ${JSON.stringify(name)}`);
  }
}

/** No CR, LF, NUL or other control byte (HTAB allowed): what would split or smuggle a response. */
function checkValue(name: string, value: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) throw new InvalidHeaderError(`value of ${name}`);
  }
}

export interface ResponseSettings {
  /** Add a Date header when the caller sets none. */
  date: boolean;
}

export class EngineResponse {
  statusCode = 200;
  headersSent = false;
  /** end() was called (the response may still be flushing). */
  finished = false;
  /** The connection went away before the response was finished. */
  aborted = false;

  private headers: readonly string[] = [];
  private reason: string | undefined;
  private framing = Framing.None;
  private remaining = 0;
  private closeAfter: boolean;
  private continueSent = false;
  private closeCallbacks: (() => void)[] | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly owner: ResponseOwner,
    /** HEAD: headers as for GET, no body. */
    private readonly head: boolean,
    private readonly versionMinor: number,
    keepAlive: boolean,
    private readonly settings: ResponseSettings,
  ) {
    this.closeAfter = !keepAlive;
  }

  /** Status and headers, [name, value, ...]; nothing is written before the first write()/end(). */
  writeHead(status: number, headers?: readonly string[], reason?: string): this {
    if (this.headersSent) throw new Error('headers already sent');
    if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`invalid status ${status}`);
    this.statusCode = status;
    if (headers) this.headers = headers;
    this.reason = reason;
    return this;
  }

  /** Sends `100 Continue` (for a request with Expect: 100-continue) before the final answer. */
  writeContinue(): void {
    if (this.headersSent || this.continueSent || this.aborted) return;
    this.continueSent = true;
    this.socket.write(CONTINUE);
  }

  get continued(): boolean { return this.continueSent; }
  /** The connection is closed once this response is complete. */
  get willClose(): boolean { return this.closeAfter; }
  /** Asks for the connection to be closed after this response (adds Connection: close if not yet sent). */
  closeConnection(): void { this.closeAfter = true; }
  get writableNeedDrain(): boolean { return this.socket.writableNeedDrain; }

  /** Writes body bytes (sending the head first if needed); false: wait for onDrain before writing more. */
  write(chunk: Buffer | string): boolean {
    if (this.finished) throw new Error('write after end');
    if (this.aborted) return false;
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const socket = this.socket;
    if (!this.headersSent) {
      const head = this.serialize(-1);
      if (data.length <= SINGLE_WRITE_MAX) {
        const ok = this.writeWithHead(head, data);
        if (ok !== null) return ok;
      }
      socket.cork();
      socket.write(head, 'latin1');
      const ok = this.writeBody(data);
      socket.uncork();
      return ok && !socket.writableNeedDrain;
    }
    return this.writeBody(data);
  }

  /**
   * The head and a small first body chunk copied into one buffer and written with one write():
   * a proxied answer usually arrives whole, and one buffer costs less than a writev of a string
   * and a buffer through the socket's cork queue. Returns the socket's answer (false: wait for
   * onDrain), or null when the framing refuses the chunk (too long for its Content-Length):
   * nothing written.
   */
  private writeWithHead(head: string, data: Buffer): boolean | null {
    let prefix = head;
    let suffix = '';
    let body = data;
    switch (this.framing) {
      case Framing.None:
        body = EMPTY;
        break;
      case Framing.Length:
        if (data.length > this.remaining) return null;
        this.remaining -= data.length;
        break;
      case Framing.Chunked:
        if (data.length > 0) {
          prefix = `${head}${data.length.toString(16)}\r\n`;
          suffix = CRLF;
        }
        break;
      default:
    }
    return this.socket.write(joinLatin1(prefix, body, suffix));
  }

  /** Ends the response, with an optional last body chunk written in the same syscall as the head. */
  end(chunk?: Buffer | string): void {
    if (this.finished) return;
    if (this.aborted) { this.finished = true; return; }
    const data = chunk === undefined ? EMPTY : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const socket = this.socket;
    const head = this.headersSent ? null : this.serialize(data.length); // throws on an invalid header: nothing written
    this.finished = true;
    if (head !== null && data.length <= SINGLE_WRITE_MAX
      && (this.framing === Framing.None || (this.framing === Framing.Length && data.length <= this.remaining))) {
      // The whole small answer in one buffer and one write(): cheaper than a writev of two.
      const body = this.framing === Framing.None ? EMPTY : data;
      if (this.framing === Framing.Length) this.remaining -= body.length;
      socket.write(joinLatin1(head, body, ''));
      this.done();
      return;
    }
    socket.cork();
    if (head !== null) socket.write(head, 'latin1');
    if (data.length > 0) this.writeBody(data);
    if (this.framing === Framing.Chunked && !this.aborted) socket.write(LAST_CHUNK);
    socket.uncork();
    this.done();
  }

  private done(): void {
    if (this.aborted) return;
    if (this.framing === Framing.Length && this.remaining !== 0) {
      this.fail(new Error(`response ended ${this.remaining} bytes short of its Content-Length`));
      return;
    }
    this.owner.responseFinished(this.closeAfter || this.framing === Framing.Close);
  }

  /** Gives up on the response: the connection is closed (the client sees a truncated answer, never a wrong one). */
  destroy(err?: Error): void {
    if (this.aborted) return;
    this.finished = true;
    this.fail(err ?? new Error('response destroyed'));
  }

  /** Called once when the socket can take more after write() returned false. */
  onDrain(cb: () => void): void { this.socket.once('drain', cb); }

  /** Called once if the connection closes before the response is complete. */
  onClose(cb: () => void): void {
    if (this.aborted) { queueMicrotask(cb); return; }
    (this.closeCallbacks ??= []).push(cb);
  }

  /** @internal the connection closed. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const cbs = this.closeCallbacks;
    this.closeCallbacks = null;
    if (cbs) for (const cb of cbs) cb();
  }

  private fail(err: Error): void {
    this.aborted = true;
    this.owner.responseFailed(err);
  }

  private writeBody(data: Buffer): boolean {
    const socket = this.socket;
    switch (this.framing) {
      case Framing.None:
        return true; // HEAD, 204, 304: no body on the wire
      case Framing.Length:
        if (data.length > this.remaining) {
          this.fail(new Error('response body longer than its Content-Length'));
          return false;
        }
        this.remaining -= data.length;
        return socket.write(data);
      case Framing.Chunked:
        if (data.length === 0) return true;
        socket.write(`${data.length.toString(16)}\r\n`, 'latin1');
        socket.write(data);
        return socket.write(CRLF, 'latin1');
      default:
        return socket.write(data);
    }
  }

  /**
   * The status line and headers. bodyLength >= 0: the whole body is known (end() with it), so a
   * Content-Length can be added; -1: a body of unknown length follows.
   */
  private serialize(bodyLength: number): string {
    const status = this.statusCode;
    const h = this.headers;
    let out = this.reason === undefined ? statusLine(status) : `HTTP/1.1 ${status} ${this.reason}\r\n`;
    let length = -1;
    let chunked = false;
    let connectionSet = false;
    let dateSet = false;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i] as string;
      const value = h[i + 1] as string;
      checkName(name);
      checkValue(name, value);
      switch (name.length) {
        case 4: if (name.toLowerCase() === 'date') dateSet = true; break;
        case 10:
          if (name.toLowerCase() === 'connection') {
            connectionSet = true;
            if (/(^|,)\s*close\s*(,|$)/i.test(value)) this.closeAfter = true;
          }
          break;
        case 14:
          if (name.toLowerCase() === 'content-length') {
            if (length !== -1 || !/^\d{1,15}$/.test(value)) throw new InvalidHeaderError('Content-Length');
            length = Number(value);
          }
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') {
            if (!/(^|,)\s*chunked\s*$/i.test(value)) throw new InvalidHeaderError('Transfer-Encoding (only chunked framing is written)');
            chunked = true;
          }
          break;
        default:
      }
      out += `${name}: ${value}\r\n`;
    }
    const bodiless = this.head || status === 204 || status === 304 || (status >= 100 && status < 200);
    if (chunked && length !== -1) throw new InvalidHeaderError('Content-Length together with Transfer-Encoding');
    if (bodiless) {
      this.framing = Framing.None;
      if (this.head && length === -1 && !chunked && bodyLength >= 0 && status !== 204 && status !== 304) {
        out += `Content-Length: ${bodyLength}\r\n`;
      }
    } else if (length !== -1) {
      this.framing = Framing.Length;
      this.remaining = length;
    } else if (chunked) {
      this.framing = Framing.Chunked;
    } else if (bodyLength >= 0) {
      this.framing = Framing.Length;
      this.remaining = bodyLength;
      out += `Content-Length: ${bodyLength}\r\n`;
    } else if (this.versionMinor === 1) {
      this.framing = Framing.Chunked;
      out += 'Transfer-Encoding: chunked\r\n';
    } else {
      this.framing = Framing.Close; // HTTP/1.0: the end of the body is the end of the connection
      this.closeAfter = true;
    }
    if (!connectionSet) {
      if (this.closeAfter) out += 'Connection: close\r\n';
      else if (this.versionMinor === 0) out += 'Connection: keep-alive\r\n';
    }
    if (this.settings.date && !dateSet) out += `Date: ${httpDate()}\r\n`;
    this.headersSent = true;
    return `${out}\r\n`;
  }
}
