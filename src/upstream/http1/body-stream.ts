import { Readable } from 'node:stream';
import type { Http1Pool } from './pool.js';
import type { Http1Exchange, Http1Handler, Http1Request } from './types.js';

/** Callbacks of a request whose response body is read as a stream. */
export interface StreamCallbacks {
  onResponse(status: number, headers: string[], body: Readable): void;
  /** Before onResponse only; after it, errors end `body` (its 'error' event). */
  onError(err: Error): void;
  /** Trailers of a chunked response, just before the body ends. */
  onTrailers?(trailers: string[]): void;
}

/** A response body as a Readable: pushing past its high-water mark pauses the upstream socket. */
class ResponseBody extends Readable {
  constructor(private readonly exchange: Http1Exchange) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _read(): void {
    this.exchange.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Destroyed by its reader before the end: stop the exchange (the connection is not reused).
    if (!this.readableEnded) this.exchange.abort(err ?? new Error('response body destroyed'));
    cb(err);
  }
}

class StreamHandler implements Http1Handler {
  private body: ResponseBody | undefined;

  constructor(private readonly cb: StreamCallbacks) {}

  onResponse(status: number, headers: string[], call: Http1Exchange): void {
    this.body = new ResponseBody(call);
    this.cb.onResponse(status, headers, this.body);
  }

  onData(chunk: Buffer): boolean {
    return (this.body as ResponseBody).push(chunk);
  }

  onEnd(trailers: string[] | null): void {
    if (trailers !== null) this.cb.onTrailers?.(trailers);
    (this.body as ResponseBody).push(null);
  }

  onError(err: Error): void {
    if (this.body === undefined) this.cb.onError(err);
    else if (!this.body.destroyed) this.body.destroy(err);
  }
}

/**
 * The stream form of Http1Pool.request, for callers that want a Readable body (the callback
 * form costs less: no stream per response). Upgrades are not available here.
 */
export function requestStream(pool: Http1Pool, req: Http1Request, cb: StreamCallbacks): Http1Exchange {
  return pool.request(req, new StreamHandler(cb));
}
