import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { EngineRequest, EngineResponse } from '../http/index.js';
import type { GatewayRequest, GatewayResponse } from '../plugins/index.js';

/**
 * The engine's request and response (src/http) as GatewayRequest / GatewayResponse
 * (src/plugins/contract.ts): the members of node:http's IncomingMessage / ServerResponse that
 * the gateway and plugins use, so one handler serves node:http2's compat objects and the engine's. Nothing is built that is not asked for: the
 * header object only when read (routes with plugins, header matchers, hash_on header), the
 * body stream only when the body is read.
 */

/** Repeated, node:http keeps the first (its matchKnownFields list); set-cookie is an array, cookie joined by '; '. */
const FIRST_WINS = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after',
  'server', 'user-agent',
]);

/** req.headers as node:http builds it from the raw headers. */
export function nodeHeaders(raw: readonly string[]): IncomingHttpHeaders {
  const o: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = (raw[i] as string).toLowerCase();
    const v = raw[i + 1] as string;
    const prev = o[k];
    if (prev === undefined) o[k] = k === 'set-cookie' ? [v] : v;
    else if (k === 'set-cookie') (prev as string[]).push(v);
    else if (FIRST_WINS.has(k)) continue;
    else o[k] = `${prev as string}${k === 'cookie' ? '; ' : ', '}${v}`;
  }
  return o as IncomingHttpHeaders;
}

type Listener = Parameters<Readable['on']>[1];

export class EngineIncoming implements GatewayRequest {
  readonly httpVersionMajor = 1;
  private headerObject: IncomingHttpHeaders | undefined;

  constructor(readonly engine: EngineRequest) {}

  get method(): string { return this.engine.method; }
  get url(): string { return this.engine.url; }
  get httpVersion(): string { return this.engine.httpVersion; }
  get httpVersionMinor(): number { return this.engine.versionMinor; }
  get rawHeaders(): string[] { return this.engine.rawHeaders; }
  get socket(): Socket { return this.engine.socket; }
  get headers(): IncomingHttpHeaders { return (this.headerObject ??= nodeHeaders(this.engine.rawHeaders)); }
  get complete(): boolean { return this.engine.complete; }
  get readableEnded(): boolean { return !this.engine.hasBody ? true : this.engine.body.readableEnded; }

  // The body: the engine's Readable, made on first use.
  on(event: string, fn: Listener): this { this.engine.body.on(event, fn); return this; }
  once(event: string, fn: Listener): this { this.engine.body.once(event, fn); return this; }
  off(event: string, fn: Listener): this { this.engine.body.off(event, fn); return this; }
  removeListener(event: string, fn: Listener): this { return this.off(event, fn); }
  pipe<T extends NodeJS.WritableStream>(dest: T, opts?: { end?: boolean }): T { return this.engine.body.pipe(dest, opts); }
  unpipe(dest?: NodeJS.WritableStream): this { if (this.engine.hasBody) this.engine.body.unpipe(dest); return this; }
  pause(): this { this.engine.body.pause(); return this; }
  resume(): this { this.engine.body.resume(); return this; }
  [Symbol.asyncIterator](): AsyncIterableIterator<unknown> { return this.engine.body[Symbol.asyncIterator](); }
  /** The body stream itself (what Exchange sends upstream). */
  get body(): Readable { return this.engine.body; }
}

type Flat = string[];
type HeaderInput = readonly string[] | Record<string, string | number | readonly string[] | undefined>;

function flatten(h: HeaderInput): Flat {
  if (Array.isArray(h)) return h as Flat;
  const out: Flat = [];
  for (const name in h as Record<string, unknown>) {
    const v = (h as Record<string, string | number | readonly string[] | undefined>)[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(name, String(x));
    else out.push(name, String(v));
  }
  return out;
}

export class EngineOutgoing implements GatewayResponse {
  private closeListeners: (() => void)[] | undefined;
  private finishListeners: (() => void)[] | undefined;
  private closed = false;
  private destroyedHere = false;

  constructor(readonly engine: EngineResponse) {}

  get headersSent(): boolean { return this.engine.headersSent; }
  get statusCode(): number { return this.engine.statusCode; }
  get writableEnded(): boolean { return this.engine.finished; }
  /** The connection is gone (or this response was given up): nothing more can be sent. */
  get destroyed(): boolean { return this.destroyedHere || this.engine.aborted; }

  writeHead(status: number, headers?: HeaderInput): this {
    this.engine.writeHead(status, headers === undefined ? undefined : flatten(headers));
    return this;
  }

  write(chunk: Buffer | string): boolean { return this.engine.write(chunk); }

  /** Sends the head now (event streams): an empty write carries it. */
  flushHeaders(): void {
    if (!this.engine.headersSent && !this.engine.finished) this.engine.write(EMPTY);
  }

  end(chunk?: Buffer | string): this {
    if (this.engine.finished) return this;
    this.engine.end(chunk);
    const finish = this.finishListeners;
    this.finishListeners = undefined;
    if (finish !== undefined) for (const fn of finish) fn();
    // 'close' after 'finish', as node:http emits it: asynchronously, once the caller is done
    // (a promise reaction: queueMicrotask costs an AsyncResource and a bound function each time).
    if (this.closeListeners !== undefined) void RESOLVED.then(this.emitClose);
    else this.closed = true;
    return this;
  }

  destroy(err?: Error): this {
    this.destroyedHere = true;
    this.engine.destroy(err);
    this.emitClose();
    return this;
  }

  on(event: string, fn: () => void): this { return this.once(event, fn); }

  /** 'close' (answer done or connection gone), 'finish' (end() called), 'drain' (write() may go on). */
  once(event: string, fn: () => void): this {
    switch (event) {
      case 'close':
        // Already closed: called all the same (soon), so what a plugin releases on 'close' is released.
        if (this.closed) {
          queueMicrotask(fn);
          break;
        }
        if (this.closeListeners === undefined) {
          this.closeListeners = [];
          this.engine.onClose(this.emitClose);
        }
        this.closeListeners.push(fn);
        break;
      case 'finish':
        (this.finishListeners ??= []).push(fn);
        break;
      case 'drain':
        this.engine.onDrain(fn);
        break;
      default:
    }
    return this;
  }

  off(event: string, fn: () => void): this {
    const list = event === 'close' ? this.closeListeners : event === 'finish' ? this.finishListeners : undefined;
    const i = list?.indexOf(fn) ?? -1;
    if (i >= 0) list?.splice(i, 1);
    return this;
  }

  removeListener(event: string, fn: () => void): this { return this.off(event, fn); }

  private readonly emitClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    const list = this.closeListeners;
    this.closeListeners = undefined;
    if (list !== undefined) for (const fn of list) fn();
  };
}

const EMPTY = Buffer.alloc(0);
const RESOLVED = Promise.resolve();
