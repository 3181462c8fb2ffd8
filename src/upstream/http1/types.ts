import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * One request to an upstream node. An object the caller already has (the gateway's exchange)
 * can be passed as is: the client reads these fields, it does not copy them.
 */
export interface Http1Request {
  readonly method: string;
  /** Request target, e.g. `/a?b=c`. */
  readonly path: string;
  /** Flat [name, value, ...], written as given (latin1); `host: <host>:<port>` is added when absent. */
  readonly headers: readonly string[];
  /**
   * The first this many entries of `headers` are known valid (a strict parser produced them:
   * token names, values without control bytes) and are not checked again; default 0.
   */
  readonly checkedHeaders?: number | undefined;
  /**
   * None, a Buffer (written with the head in one write when small), or a stream (written as it
   * comes, with backpressure). Framing follows Content-Length / Transfer-Encoding in headers;
   * without them a Buffer gets Content-Length and a stream gets chunked.
   */
  readonly body: Buffer | Readable | null;
  /** Overrides of the pool's send/read timeouts for this request (route timeouts), ms; 0 = none. */
  readonly sendTimeout?: number | undefined;
  readonly readTimeout?: number | undefined;
  /** The request asks for a protocol switch: a 101 hands the socket to `onUpgrade`. */
  readonly upgrade?: boolean | undefined;
}

/**
 * The caller's side of one exchange, called back in this order: onRequestSent (optional, when
 * the last request byte is handed to the socket), onResponse, onData*, onEnd; or onError at any
 * point instead (once, nothing after it); or onUpgrade instead of onResponse for a 101.
 * Plain methods on one object, so a request costs no closures or promises.
 */
export interface Http1Handler {
  /** The final response head (1xx other than 101 are skipped). `call` resumes and aborts. */
  onResponse(status: number, headers: string[], call: Http1Exchange): void;
  /** A piece of body, a view into the socket's data (copy it to keep it past the call). False: pause until call.resume(). */
  onData(chunk: Buffer): boolean;
  /** The response is complete; trailers of a chunked body, or null. */
  onEnd(trailers: string[] | null): void;
  /** The exchange failed: an Http1Error (see its retryable/phase), the request body's own error, or the abort reason. */
  onError(err: Error): void;
  /** 101 to an upgrade request: the socket and the bytes that came after the head are the caller's now. */
  onUpgrade?(headers: string[], socket: Socket, head: Buffer): void;
  onRequestSent?(): void;
}

/** What the caller holds of a request in flight. */
export interface Http1Exchange {
  /** Continues a body paused by onData returning false. */
  resume(): void;
  /** Ends the exchange (the connection is closed, not reused); onError gets `reason` unless it already ended. */
  abort(reason: Error): void;
}

export interface Http1Timeouts {
  /** TCP connect, ms. */
  readonly connect: number;
  /** Request sending: longest time without progress, ms (0 = none). */
  readonly send: number;
  /** Response: time to the head after the request is sent, and between body reads, ms (0 = none). */
  readonly read: number;
}

export interface Http1PoolOptions {
  readonly host: string;
  readonly port: number;
  /** Most connections open to this node at once (upstream keepalive.connections); more requests queue. */
  readonly connections?: number;
  /** How long an idle connection is kept (upstream keepalive.idle_timeout), ms. */
  readonly keepAliveTimeout?: number;
  /**
   * When the upstream announces `Keep-Alive: timeout=N`, an idle connection is dropped this
   * long before N runs out (ms): reusing it then races the upstream's own close.
   */
  readonly keepAliveMargin?: number;
  readonly timeouts?: Partial<Http1Timeouts>;
  /** Largest response head (and trailer section) accepted, bytes. */
  readonly maxHeadBytes?: number;
  /**
   * A reused connection closed before any byte of the answer (the upstream closed it as we
   * sent: the keep-alive race) is retried once on a new connection, when the request is
   * idempotent and its body can be sent again. Off: the caller gets a retryable error.
   */
  readonly retryStaleSocket?: boolean;
  /** Opens the TCP connection (tests; default node:net connect with no delay). */
  readonly connect?: (host: string, port: number) => Socket;
}

export interface Http1PoolStats {
  /** Open connections (busy, idle and connecting). */
  readonly connections: number;
  readonly idle: number;
  readonly queued: number;
  /** Connections ever opened. */
  readonly opened: number;
  /** Bytes held in user space by this pool's connections: unparsed response remainders and the sockets' read and write buffers. */
  readonly bufferedBytes: number;
}
