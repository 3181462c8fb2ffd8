import { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import type { RequestHead } from './parser.js';

/** What the connection does when the body's reader wants more (or stops wanting it). */
export interface BodySource {
  resumeBody(): void;
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
 * gateway needs pre-extracted, the socket, and the body stream (created only when there is a body).
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
  readonly socket: Socket;
  /** Trailer fields of a chunked body, [name, value, ...]; set once the body is complete. */
  trailers: string[] = [];
  /** True once the whole request (body included) has been received. */
  complete = false;
  /** @internal body bytes counted by the parser, read through bodyBytes. */
  private readonly counter: { bodyBytes: number };
  private readonly bodyStream: RequestBody | null;
  private emptyBody: Readable | undefined;

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
    this.socket = socket;
    this.counter = counter;
    this.bodyStream = head.chunked || head.contentLength > 0 ? new RequestBody(source) : null;
  }

  get httpVersion(): string { return this.versionMinor === 1 ? '1.1' : '1.0'; }
  get remoteAddress(): string | undefined { return this.socket.remoteAddress; }
  get remotePort(): number | undefined { return this.socket.remotePort; }
  /** Whether a body follows the head (Content-Length > 0 or chunked). */
  get hasBody(): boolean { return this.bodyStream !== null; }
  /** Body bytes received so far (after chunked decoding): the user enforces its own body limit on this. */
  get bodyBytes(): number { return this.counter.bodyBytes; }
  /** `Expect: 100-continue`: the client waits for res.writeContinue() (or a final answer) before sending the body. */
  get expectsContinue(): boolean { return this.expect !== undefined && this.expect.toLowerCase() === '100-continue'; }

  /** The body as a Readable (an ended empty one when there is none). */
  get body(): Readable {
    if (this.bodyStream) return this.bodyStream;
    this.emptyBody ??= Readable.from([]);
    return this.emptyBody;
  }

  /** Bytes of this request's body held in memory by the engine (the stream's buffer). */
  get bufferedBodyBytes(): number { return this.bodyStream ? this.bodyStream.readableLength : 0; }

  /** @internal */
  get stream(): RequestBody | null { return this.bodyStream; }

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
