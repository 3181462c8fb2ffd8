import { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import type { RequestHead } from './parser.js';

/** What the connection does when the body's reader wants more. */
export interface BodySource {
  resumeBody(): void;
}

/**
 * The light way to read a body (no stream object: about 2 us a request less than a Readable,
 * measured). onData returning false stops the flow until req.resumeBody().
 */
export interface BodySink {
  onData(chunk: Buffer): boolean | void;
  onEnd(): void;
  onError(err: Error): void;
}

const BODY_HIGH_WATER_MARK = 64 * 1024;

/**
 * A request body as a Readable. The connection pushes decoded chunks; when push() says the
 * reader is behind, the connection stops reading the socket until _read() asks again, so a slow
 * reader holds at most this stream's high-water mark plus one socket chunk.
 */
export class RequestBody extends Readable {
  constructor(private readonly source: BodySource) {
    super({ highWaterMark: BODY_HIGH_WATER_MARK });
  }

  override _read(): void {
    this.source.resumeBody();
  }
}

/**
 * One request as the engine hands it over: the raw request line and headers, the values the
 * gateway needs pre-extracted, the socket, and the body, read either as a Readable (`body`) or
 * through a sink (`readBody`). Until one of them is asked for, the body waits in the socket.
 */
export class EngineRequest {
  readonly method: string;
  /** The raw request-target, as sent. */
  readonly url: string;
  /** 0 (HTTP/1.0) or 1 (HTTP/1.1). */
  readonly versionMinor: number;
  /** [name, value, ...] as sent, like node's rawHeaders. */
  readonly rawHeaders: string[];
  readonly host: string | undefined;
  /** -1 when the request has no Content-Length. */
  readonly contentLength: number;
  readonly chunked: boolean;
  readonly transferEncoding: string | undefined;
  readonly connection: string | undefined;
  readonly upgrade: string | undefined;
  readonly expect: string | undefined;
  /** Whether the client lets the connection carry another request (HTTP/1.0 and 1.1 rules). */
  readonly keepAlive: boolean;
  /** Whether a body follows the head (Content-Length > 0 or chunked). */
  readonly hasBody: boolean;
  readonly socket: Socket;
  /** Trailer fields of a chunked body, [name, value, ...]; set once the body is complete. */
  trailers: string[] = [];
  /** True once the whole request (body included) has been received. */
  complete = false;
  private readonly counter: { bodyBytes: number };
  private readonly source: BodySource;
  private stream: RequestBody | null = null;
  private sink: BodySink | null = null;
  private emptyBody: Readable | undefined;
  /** A chunk that arrived before anyone read the body (the flow stops there). */
  private pending: Buffer | null = null;
  private ended = false;
  private failure: Error | null = null;
  private dropped = false;

  constructor(head: RequestHead, socket: Socket, counter: { bodyBytes: number }, source: BodySource) {
    this.method = head.method;
    this.url = head.url;
    this.versionMinor = head.versionMinor;
    this.rawHeaders = head.rawHeaders;
    this.host = head.host;
    this.contentLength = head.contentLength;
    this.chunked = head.chunked;
    this.transferEncoding = head.transferEncoding;
    this.connection = head.connection;
    this.upgrade = head.upgrade;
    this.expect = head.expect;
    this.keepAlive = head.keepAlive;
    this.hasBody = head.chunked || head.contentLength > 0;
    this.socket = socket;
    this.counter = counter;
    this.source = source;
  }

  get httpVersion(): string { return this.versionMinor === 1 ? '1.1' : '1.0'; }
  get remoteAddress(): string | undefined { return this.socket.remoteAddress; }
  get remotePort(): number | undefined { return this.socket.remotePort; }
  /** Body bytes received so far (after chunked decoding): the user enforces its own body limit on this. */
  get bodyBytes(): number { return this.counter.bodyBytes; }
  /** `Expect: 100-continue`: the client waits for res.writeContinue() (or a final answer) before sending the body. */
  get expectsContinue(): boolean { return this.expect !== undefined && this.expect.toLowerCase() === '100-continue'; }

  /** The body as a Readable (an ended empty one when there is none). Not with readBody(). */
  get body(): Readable {
    if (!this.hasBody) return (this.emptyBody ??= Readable.from([]));
    if (this.sink) throw new Error('the body is read through readBody()');
    if (!this.stream) {
      const stream = new RequestBody(this.source);
      this.stream = stream;
      if (this.pending) { stream.push(this.pending); this.pending = null; }
      if (this.failure) stream.destroy(this.failure);
      else if (this.ended) stream.push(null);
      else if (this.dropped) stream.destroy();
    }
    return this.stream;
  }

  /** Reads the body through callbacks instead of a stream (onEnd at once when there is none). */
  readBody(sink: BodySink): void {
    if (this.stream || this.sink) throw new Error('the body is already being read');
    this.sink = sink;
    if (!this.hasBody) { sink.onEnd(); return; }
    this.flushToSink(sink);
  }

  /** After a sink's onData returned false: let the body flow again. */
  resumeBody(): void {
    if (this.sink) this.flushToSink(this.sink);
    else this.source.resumeBody();
  }

  private flushToSink(sink: BodySink): void {
    const pending = this.pending;
    this.pending = null;
    if (pending && sink.onData(pending) === false) return;
    if (this.failure) sink.onError(this.failure);
    else if (this.ended) this.endSink(sink);
    else this.source.resumeBody();
  }

  private endDelivered = false;
  private endSink(sink: BodySink): void {
    if (this.endDelivered) return;
    this.endDelivered = true;
    sink.onEnd();
  }

  /** Bytes of this request's body held in memory by the engine. */
  get bufferedBodyBytes(): number {
    return (this.stream ? this.stream.readableLength : 0) + (this.pending ? this.pending.length : 0);
  }

  /** @internal a body chunk; false: stop the flow until the reader asks for more. */
  deliver(chunk: Buffer): boolean {
    if (this.sink) return this.sink.onData(chunk) !== false;
    if (this.stream) return this.stream.destroyed || this.stream.push(chunk);
    this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    return false; // nobody reads yet
  }

  /** @internal the body is complete. */
  finish(): void {
    this.ended = true;
    if (this.pending) return; // delivered with the end when a reader comes
    if (this.sink) this.endSink(this.sink);
    else if (this.stream && !this.stream.destroyed) this.stream.push(null);
  }

  /** @internal the body will not complete: the reader learns why (a stream only if it listens for 'error'). */
  fail(err: Error): void {
    if (this.ended || this.failure) return;
    this.failure = err;
    this.pending = null;
    if (this.sink) this.sink.onError(err);
    else if (this.stream && !this.stream.destroyed) this.stream.destroy(this.stream.listenerCount('error') > 0 ? err : undefined);
  }

  /** @internal the response ended first: the rest of the body is dropped, the reader stops quietly. */
  drop(): void {
    this.dropped = true;
    this.pending = null;
    this.stream?.destroy();
    this.sink = null;
  }

  /** Header value by lowercase name (first occurrence); a linear scan of rawHeaders, for the rare header. */
  header(lowerName: string): string | undefined {
    const h = this.rawHeaders;
    for (let i = 0; i < h.length; i += 2) {
      const n = h[i] as string;
      if (n.length === lowerName.length && n.toLowerCase() === lowerName) return h[i + 1];
    }
    return undefined;
  }
}
