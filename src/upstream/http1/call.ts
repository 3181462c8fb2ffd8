import type { Http1Connection } from './connection.js';
import type { RequestFraming } from './request-head.js';
import type { Http1Exchange, Http1Handler, Http1Request, Http1Timeouts } from './types.js';

/** What a connection needs from its pool. */
export interface PoolSide {
  /** host:port, for error messages. */
  readonly node: string;
  readonly timeouts: Http1Timeouts;
  readonly maxHeadBytes: number;
  /** The pool is closing: no connection goes back to idle. */
  readonly closing: boolean;
  /** A complete exchange left the connection reusable. */
  release(conn: Http1Connection): void;
  /** The connection is closed or handed off: it no longer counts. */
  forget(conn: Http1Connection): void;
  /** The exchange failed (the pool may retry it once, see retryStaleSocket). */
  failed(call: Http1Call, err: Error): void;
  /** Aborted before a connection took it. */
  cancel(call: Http1Call, reason: Error): void;
}

/** One request in flight: its progress, the framing its head declared, and where it runs. */
export class Http1Call implements Http1Exchange, RequestFraming {
  conn: Http1Connection | null = null;
  /** onEnd, onError or onUpgrade was called (or is being called): nothing more happens. */
  finished = false;
  /** Some byte of the request went to a socket. */
  written = false;
  /** The whole request went to the socket. */
  sent = false;
  /** Some byte of the response came. */
  responded = false;
  /** Already retried once on a new connection after the keep-alive race. */
  retried = false;
  /** The request line and headers, built (and checked) once, before a connection is taken. */
  head = '';
  contentLength = -1;
  chunked = false;
  close = false;
  /** Body bytes still expected from a stream under Content-Length. */
  bodyLeft = 0;

  constructor(
    readonly pool: PoolSide,
    readonly req: Http1Request,
    readonly handler: Http1Handler,
  ) {}

  resume(): void {
    this.conn?.resumeBody(this);
  }

  abort(reason: Error): void {
    if (this.finished) return;
    if (this.conn !== null) this.conn.abort(this, reason);
    else this.pool.cancel(this, reason);
  }

  /** Back to the start, to be sent again on another connection. */
  rewind(): void {
    this.conn = null;
    this.finished = false;
    this.written = false;
    this.sent = false;
    this.responded = false;
  }
}
