import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { Http1Call, PoolSide } from './call.js';
import { Http1Error, ResponseParseError } from './errors.js';
import { DONE, ResponseParser, UPGRADE, type ResponseSink } from './response-parser.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const EMPTY = Buffer.alloc(0);
/** A Buffer body up to this size is copied behind the head and sent in one write. */
const ONE_WRITE_BYTES = 16 * 1024;
const LAST_CHUNK = '0\r\n\r\n';

type Latin1Buffer = Buffer & { latin1Write(s: string, offset: number): number };

/** How a connection gets its socket's bytes: `onRead` set, they arrive in a reused buffer. */
export type OpenSocket = (onRead: ((bytes: number, buf: Buffer) => boolean) | undefined) => Socket;

/**
 * One keep-alive connection to an upstream node, running one exchange at a time: it writes
 * the request (head in one write; a stream body with backpressure), parses the response, and
 * hands the connection back to its pool only after a complete exchange (response fully read
 * and request fully sent, nothing unexpected after it). One timer per connection serves the
 * connect, send and read timeouts: it is refreshed per exchange and checks the time of the
 * last progress when it fires, so a data event costs a clock read, not a timer update.
 */
export class Http1Connection implements ResponseSink {
  call: Http1Call | null = null;
  connected = false;
  /** Exchanges completed on this connection: more than 0 means it is a reused one. */
  exchanges = 0;
  /** performance.now() after which this idle connection is not used again. */
  idleDeadline = 0;
  /** The last response's `Keep-Alive: timeout` in ms, or -1. */
  keepAliveHintMs = -1;
  private readonly parser: ResponseParser;
  private timer: NodeJS.Timeout | undefined;
  private timerMs = 0;
  /** The timer is set and has not fired yet. */
  private timerPending = false;
  /** The timeout of the current phase (0 = none) and when there was last progress. */
  private limit = 0;
  private lastActivity = 0;
  private socketPaused = false;
  /** The peer's FIN came while bytes were still held for a paused consumer. */
  private peerEnded = false;
  private body: Readable | null = null;
  private waitingDrain = false;
  /** A stream body's head waits for its first bytes (or its end) and goes out with them. */
  private headPending = false;
  private gone = false;
  /** Idle long enough to stop holding the process open (see releaseProcess). */
  private unrefed = false;

  readonly socket: Socket;
  /**
   * The socket reads into one buffer reused for every read (node:net's `onread`): no buffer
   * is allocated per read and the bytes skip the Readable stream. What outlives the read
   * (body chunks handed on, bytes the parser keeps) is copied.
   */
  private readonly reusedBuffer: boolean;

  constructor(
    private readonly pool: PoolSide,
    open: OpenSocket,
    reuseReadBuffer: boolean,
  ) {
    this.reusedBuffer = reuseReadBuffer;
    this.parser = new ResponseParser(this, pool.maxHeadBytes, reuseReadBuffer);
    const socket = open(reuseReadBuffer ? this.onSocketRead : undefined);
    this.socket = socket;
    socket.on('connect', this.onConnect);
    if (!reuseReadBuffer) socket.on('data', this.onSocketData);
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    this.arm(pool.timeouts.connect);
  }

  /** Runs `call` on this connection (at once when connected, else once it is). */
  assign(call: Http1Call): void {
    this.call = call;
    call.conn = this;
    this.parser.reset(call.req.method === 'HEAD', call.req.upgrade === true);
    if (this.unrefed) {
      this.unrefed = false;
      this.socket.ref();
    }
    if (this.connected) this.send(call);
  }

  /**
   * An idle connection no longer keeps the process alive. The pool's sweep calls this for
   * connections idle at its tick rather than every exchange unref-ing and the next ref-ing
   * again (two handle calls per request under load).
   */
  releaseProcess(): void {
    if (this.unrefed || this.gone || this.call !== null) return;
    this.unrefed = true;
    this.socket.unref();
  }

  /** Bytes held here: the unparsed response remainder and the socket's buffers both ways. */
  get bufferedBytes(): number {
    return (this.parser.rest?.length ?? 0) + this.socket.readableLength + this.socket.writableLength;
  }

  private readonly onConnect = (): void => {
    this.connected = true;
    const call = this.call;
    if (call !== null) this.send(call);
    else this.arm(0);
  };

  private send(call: Http1Call): void {
    const body = call.req.body;
    const head = call.head;
    call.written = true;
    if (body === null) {
      this.socket.write(call.chunked ? head + LAST_CHUNK : head, 'latin1');
      this.requestSent(call);
    } else if (Buffer.isBuffer(body)) {
      this.writeBuffer(call, head, body);
      this.requestSent(call);
    } else if (body.readableEnded) {
      // Ended before it was handed over: an empty body ('end' will not come again).
      this.writeBuffer(call, head, EMPTY);
      this.requestSent(call);
    } else {
      this.arm(call.req.sendTimeout ?? this.pool.timeouts.send);
      // As undici does: the head goes with the first body bytes, so a body that fails before
      // any (a size limit) never reaches the upstream, and the head costs no write of its own.
      this.headPending = true;
      call.bodyLeft = call.contentLength;
      this.body = body;
      body.on('data', this.onBodyData);
      body.on('end', this.onBodyEnd);
      body.on('error', this.onBodyError);
      body.on('close', this.onBodyClose);
    }
  }

  private writeBuffer(call: Http1Call, head: string, body: Buffer): void {
    const socket = this.socket;
    if (call.chunked) {
      socket.cork();
      socket.write(body.length > 0 ? `${head}${body.length.toString(16)}\r\n` : head, 'latin1');
      if (body.length > 0) socket.write(body);
      socket.write(body.length > 0 ? `\r\n${LAST_CHUNK}` : LAST_CHUNK, 'latin1');
      socket.uncork();
    } else if (body.length <= ONE_WRITE_BYTES) {
      const out = Buffer.allocUnsafe(head.length + body.length);
      (out as Latin1Buffer).latin1Write(head, 0);
      body.copy(out, head.length);
      socket.write(out);
    } else {
      socket.cork();
      socket.write(head, 'latin1');
      socket.write(body);
      socket.uncork();
    }
  }

  private requestSent(call: Http1Call): void {
    call.sent = true;
    this.arm(call.req.readTimeout ?? this.pool.timeouts.read);
    call.handler.onRequestSent?.();
  }

  // ---- request body stream ----

  private readonly onBodyData = (chunk: Buffer | string): void => {
    const call = this.call;
    if (call === null) return;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const n = buf.length;
    if (n === 0) return;
    this.lastActivity = performance.now();
    const socket = this.socket;
    const head = this.headPending ? call.head : '';
    this.headPending = false;
    let ok: boolean;
    if (call.chunked) {
      socket.cork();
      socket.write(`${head}${n.toString(16)}\r\n`, 'latin1');
      socket.write(buf);
      ok = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else {
      if (call.bodyLeft >= 0 && (call.bodyLeft -= n) < 0) {
        this.fail(call, this.requestError('request body longer than its content-length'));
        return;
      }
      if (head === '') ok = socket.write(buf);
      else {
        socket.cork();
        socket.write(head, 'latin1');
        ok = socket.write(buf);
        socket.uncork();
      }
    }
    if (!ok && !this.waitingDrain) {
      this.waitingDrain = true;
      (this.body as Readable).pause();
      socket.once('drain', this.onDrain);
    }
  };

  private readonly onDrain = (): void => {
    this.waitingDrain = false;
    this.lastActivity = performance.now();
    this.body?.resume();
  };

  private readonly onBodyEnd = (): void => {
    const call = this.call;
    if (call === null) return;
    if (call.bodyLeft > 0) {
      this.fail(call, this.requestError('request body shorter than its content-length'));
      return;
    }
    const head = this.headPending ? call.head : '';
    this.headPending = false;
    if (call.chunked) this.socket.write(head + LAST_CHUNK, 'latin1');
    else if (head !== '') this.socket.write(head, 'latin1');
    this.detachBody();
    this.requestSent(call);
  };

  private readonly onBodyError = (err: Error): void => {
    // The body's own error (a size limit, the client gone) goes to the caller as it is.
    this.fail(this.call, err);
  };

  private readonly onBodyClose = (): void => {
    const body = this.body;
    if (body !== null && !body.readableEnded) this.fail(this.call, new Error('request body closed before its end'));
  };

  private detachBody(): void {
    const body = this.body;
    if (body === null) return;
    this.body = null;
    body.off('data', this.onBodyData);
    body.off('end', this.onBodyEnd);
    body.off('error', this.onBodyError);
    body.off('close', this.onBodyClose);
    if (this.waitingDrain) {
      this.waitingDrain = false;
      this.socket.off('drain', this.onDrain);
    }
  }

  private requestError(reason: string): Http1Error {
    return new Http1Error('MERIDIAN_ERR_UPSTREAM_BAD_REQUEST', { node: this.pool.node, reason }, { phase: 'send', requestWritten: true, reusedSocket: this.exchanges > 0, retryable: false });
  }

  // ---- response ----

  /** node:net's onread callback: `buf` is reused by the next read. False: stop reading (paused). */
  private readonly onSocketRead = (bytes: number, buf: Buffer): boolean => {
    this.onSocketData(buf.subarray(0, bytes));
    return !this.socketPaused;
  };

  private readonly onSocketData = (chunk: Buffer): void => {
    this.lastActivity = performance.now();
    const call = this.call;
    if (call === null) {
      // Bytes on an idle connection: an answer to nothing; the connection cannot be trusted.
      this.destroy();
      return;
    }
    call.responded = true;
    if (this.parser.paused) {
      // Read before the pause took effect: keep it behind what is already held.
      this.parser.hold(chunk);
      return;
    }
    try {
      this.parser.execute(chunk);
    } catch (err) {
      this.parseFailed(call, err);
      return;
    }
    this.afterParse(call);
  };

  onHead(status: number, headers: string[]): void {
    const call = this.call as Http1Call;
    if (status !== 101) call.handler.onResponse(status, headers, call);
  }

  onBody(chunk: Buffer): boolean {
    const call = this.call;
    // The handler may keep the chunk (a socket write queue): never a view of the reused buffer.
    return call === null || call.handler.onData(this.reusedBuffer ? Buffer.from(chunk) : chunk);
  }

  private afterParse(call: Http1Call): void {
    if (call !== this.call) return; // finished or aborted from a callback
    const state = this.parser.state;
    if (state === DONE) this.complete(call);
    else if (state === UPGRADE) this.handOff(call);
    else if (this.parser.paused) {
      if (!this.socketPaused) {
        this.socketPaused = true;
        this.socket.pause();
      }
    } else if (this.socketPaused) {
      this.socketPaused = false;
      this.socket.resume();
    } else if (this.peerEnded) this.onSocketEnd();
  }

  /** The consumer wants more body after onData returned false. */
  resumeBody(call: Http1Call): void {
    if (call !== this.call || !this.parser.paused) return;
    try {
      this.parser.resume();
    } catch (err) {
      this.parseFailed(call, err);
      return;
    }
    this.afterParse(call);
    if (call === this.call && !this.parser.paused && this.peerEnded) this.onSocketEnd();
  }

  private complete(call: Http1Call): void {
    const p = this.parser;
    const trailers = p.trailers;
    this.exchanges++;
    this.limit = 0;
    call.finished = true;
    call.conn = null;
    this.call = null;
    if (p.keepAlive && call.sent && !call.close && p.rest === null && call.req.upgrade !== true && !this.pool.closing && !this.peerEnded) {
      this.keepAliveHintMs = p.keepAliveHintMs;
      if (this.socketPaused) {
        // Paused for a slow consumer and then finished from held bytes: the next exchange reads.
        this.socketPaused = false;
        this.socket.resume();
      }
      this.pool.release(this);
    } else this.destroy();
    call.handler.onEnd(trailers);
  }

  private handOff(call: Http1Call): void {
    const socket = this.socket;
    const head = this.parser.rest ?? EMPTY;
    const headers = this.parser.headers;
    call.finished = true;
    call.conn = null;
    this.call = null;
    this.gone = true;
    this.parser.stop();
    this.clearTimer();
    this.detachBody();
    socket.off('connect', this.onConnect);
    socket.off('data', this.onSocketData); // (an upgrade runs on a connection without the reused buffer)
    socket.off('end', this.onSocketEnd);
    socket.off('error', this.onSocketError);
    socket.off('close', this.onSocketClose);
    this.pool.forget(this);
    if (this.socketPaused) socket.resume();
    const onUpgrade = call.handler.onUpgrade;
    if (onUpgrade === undefined) {
      socket.destroy();
      call.handler.onError(this.responseError(call, 'MERIDIAN_ERR_UPSTREAM_BAD_RESPONSE', { reason: '101 and no upgrade handler' }));
      return;
    }
    onUpgrade.call(call.handler, headers, socket, head);
  }

  // ---- connection end, errors, timeouts ----

  private readonly onSocketEnd = (): void => {
    if (this.gone) return;
    const call = this.call;
    if (call !== null && this.parser.paused) {
      // The consumer has not taken all that came before the FIN yet.
      this.peerEnded = true;
      return;
    }
    if (call !== null && this.parser.endOfInput()) {
      this.complete(call);
      return;
    }
    this.fail(call, this.closedError(call, null));
  };

  private readonly onSocketError = (err: Error): void => {
    if (!this.gone) this.fail(this.call, this.closedError(this.call, err));
  };

  private readonly onSocketClose = (): void => {
    if (!this.gone) this.fail(this.call, this.closedError(this.call, null));
  };

  /** The connection closed or failed under `call` (null: while idle or connecting for nobody). */
  private closedError(call: Http1Call | null, cause: Error | null): Http1Error {
    const node = this.pool.node;
    const reason = (cause as { code?: string } | null)?.code ?? cause?.message ?? 'closed';
    if (!this.connected) {
      return new Http1Error('MERIDIAN_ERR_UPSTREAM_CONNECT_FAILED', { node, reason }, { phase: 'connect', requestWritten: false, reusedSocket: false, retryable: true }, cause ?? undefined);
    }
    const written = call?.written ?? false;
    const responded = call?.responded ?? false;
    const reused = this.exchanges > 0;
    const body = call?.req.body ?? null;
    // The keep-alive race: the upstream closed a reused connection as the request went out.
    const race = call !== null && reused && !responded && IDEMPOTENT.has(call.req.method) && (body === null || Buffer.isBuffer(body));
    const when = responded ? 'during the response' : written ? 'before answering' : 'before the request was sent';
    return new Http1Error('MERIDIAN_ERR_UPSTREAM_CONNECTION_CLOSED', { node, when, reason }, { phase: call?.sent === true ? 'read' : 'send', requestWritten: written, reusedSocket: reused, retryable: !written || race }, cause ?? undefined);
  }

  private responseError(call: Http1Call, code: string, params: Record<string, string | number>): Http1Error {
    return new Http1Error(code, { node: this.pool.node, ...params }, { phase: 'read', requestWritten: true, reusedSocket: this.exchanges > 0, retryable: false });
  }

  private parseFailed(call: Http1Call, err: unknown): void {
    if (err instanceof ResponseParseError) {
      const params: Record<string, string | number> = err.code === 'MERIDIAN_ERR_UPSTREAM_HEAD_TOO_LARGE' ? { limit: this.pool.maxHeadBytes } : { reason: err.reason };
      this.fail(call, this.responseError(call, err.code, params));
    } else this.fail(call, err as Error); // thrown by a handler callback
  }

  private arm(ms: number): void {
    this.limit = ms;
    this.lastActivity = performance.now();
    if (ms <= 0) return;
    // A pending timer that fires no later than this limit needs no update: onTimer measures the
    // quiet time and sets itself again for the rest (so an exchange costs no timer work).
    if (this.timerPending && this.timerMs <= ms) return;
    if (this.timer !== undefined && this.timerMs === ms) {
      this.timer.refresh();
      this.timerPending = true;
    } else this.startTimer(ms);
  }

  private startTimer(ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerMs = ms;
    this.timer = setTimeout(this.onTimer, ms);
    this.timer.unref();
    this.timerPending = true;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerPending = false;
    this.limit = 0;
  }

  private readonly onTimer = (): void => {
    this.timerPending = false;
    const limit = this.limit;
    if (limit <= 0 || this.gone) return;
    const call = this.call;
    const node = this.pool.node;
    if (!this.connected) {
      this.fail(call, new Http1Error('MERIDIAN_ERR_UPSTREAM_CONNECT_TIMEOUT', { node, ms: limit }, { phase: 'connect', requestWritten: false, reusedSocket: false, retryable: true }));
      return;
    }
    if (call === null) return;
    if (this.parser.paused) {
      // Our consumer is the slow one, not the upstream: its own timeouts apply.
      this.startTimer(limit);
      return;
    }
    const quiet = performance.now() - this.lastActivity;
    if (quiet < limit - 1) {
      this.startTimer(limit - quiet);
      return;
    }
    const facts = { requestWritten: true, reusedSocket: this.exchanges > 0, retryable: false };
    if (call.sent) this.fail(call, new Http1Error('MERIDIAN_ERR_UPSTREAM_READ_TIMEOUT', { node, ms: limit }, { phase: 'read', ...facts }));
    else this.fail(call, new Http1Error('MERIDIAN_ERR_UPSTREAM_SEND_TIMEOUT', { node, ms: limit }, { phase: 'send', ...facts }));
  };

  /** Aborted by the caller: the connection goes (its state is unknown), the caller gets `reason`. */
  abort(call: Http1Call, reason: Error): void {
    if (call === this.call) this.fail(call, reason);
  }

  /** Ends the exchange in progress (if any) with `err` and closes the connection. */
  private fail(call: Http1Call | null, err: Error): void {
    this.destroy();
    if (call !== null && !call.finished) {
      call.finished = true;
      call.conn = null;
      this.pool.failed(call, err);
    }
  }

  /** Closes the connection; an exchange still on it is the caller's to end (fail does). */
  destroy(): void {
    if (this.gone) return;
    this.gone = true;
    this.call = null;
    this.parser.stop();
    this.clearTimer();
    this.detachBody();
    this.socket.destroy();
    this.pool.forget(this);
  }
}
