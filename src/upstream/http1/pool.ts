import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Http1Call, type PoolSide } from './call.js';
import { Http1Connection } from './connection.js';
import { Http1Error } from './errors.js';
import { requestHead, RequestHeadError } from './request-head.js';
import type { Http1Exchange, Http1Handler, Http1PoolOptions, Http1PoolStats, Http1Request, Http1Timeouts } from './types.js';

/** The upstream model's defaults (src/core/model/upstream.ts). */
export const HTTP1_DEFAULTS = { connections: 64, keepAliveTimeout: 60_000, keepAliveMargin: 1_000, maxHeadBytes: 32 * 1024, timeouts: { connect: 5_000, send: 60_000, read: 60_000 } } as const;

const NO_FACTS = { phase: 'connect', requestWritten: false, reusedSocket: false, retryable: false } as const;

/**
 * One read buffer for every pooled connection of the process: reads are handled one at a
 * time and a connection copies what it keeps (see Http1Connection), so they can share it.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

function defaultConnect(host: string, port: number, onRead?: (bytes: number, buf: Buffer) => boolean): Socket {
  return onRead === undefined
    ? netConnect({ host, port, noDelay: true })
    : netConnect({ host, port, noDelay: true, onread: { buffer: READ_BUFFER, callback: onRead } });
}

/**
 * Keep-alive HTTP/1.1 connections to one plain-HTTP upstream node (host:port): at most
 * `connections` open, one exchange per connection at a time, requests queued FIFO beyond
 * that. Idle connections are reused most-recent first and dropped when the peer closes them,
 * at our idle timeout, or shortly before the upstream's announced keep-alive timeout.
 */
export class Http1Pool implements PoolSide {
  readonly node: string;
  readonly timeouts: Http1Timeouts;
  readonly maxHeadBytes: number;
  closing = false;
  private readonly host: string;
  private readonly port: number;
  private readonly hostHeader: string;
  private readonly max: number;
  private readonly keepAliveTimeout: number;
  private readonly keepAliveMargin: number;
  private readonly retryStale: boolean;
  private readonly connectFn: ((host: string, port: number) => Socket) | undefined;
  private readonly all = new Set<Http1Connection>();
  /** Idle connections, most recently used last. */
  private readonly idle: Http1Connection[] = [];
  private readonly queue: Http1Call[] = [];
  private opened = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closed: (() => void) | undefined;

  constructor(options: Http1PoolOptions) {
    this.host = options.host;
    this.port = options.port;
    this.node = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
    this.hostHeader = options.port === 80 ? this.node.slice(0, this.node.lastIndexOf(':')) : this.node;
    this.max = options.connections ?? HTTP1_DEFAULTS.connections;
    this.keepAliveTimeout = options.keepAliveTimeout ?? HTTP1_DEFAULTS.keepAliveTimeout;
    this.keepAliveMargin = options.keepAliveMargin ?? HTTP1_DEFAULTS.keepAliveMargin;
    this.timeouts = { ...HTTP1_DEFAULTS.timeouts, ...options.timeouts };
    this.maxHeadBytes = options.maxHeadBytes ?? HTTP1_DEFAULTS.maxHeadBytes;
    this.retryStale = options.retryStaleSocket ?? true;
    this.connectFn = options.connect;
  }

  /**
   * Sends `req`; `handler` hears the outcome (see Http1Handler). A request that cannot be
   * sent at all (bad header, pool closed) fails with onError before this returns.
   */
  request(req: Http1Request, handler: Http1Handler): Http1Exchange {
    const call = new Http1Call(this, req, handler);
    if (this.closing) {
      call.finished = true;
      handler.onError(new Http1Error('MERIDIAN_ERR_UPSTREAM_POOL_CLOSED', { node: this.node }, NO_FACTS));
      return call;
    }
    try {
      call.head = requestHead(req, this.hostHeader, call);
    } catch (err) {
      if (!(err instanceof RequestHeadError)) throw err;
      call.finished = true;
      handler.onError(new Http1Error('MERIDIAN_ERR_UPSTREAM_BAD_REQUEST', { node: this.node, reason: err.message }, NO_FACTS));
      return call;
    }
    this.dispatch(call, false);
    return call;
  }

  private dispatch(call: Http1Call, fresh: boolean): void {
    if (!fresh && call.req.upgrade !== true) {
      const conn = this.takeIdle();
      if (conn !== undefined) {
        conn.assign(call);
        return;
      }
    }
    if (this.all.size < this.max) this.open(call).assign(call);
    else if (fresh) this.queue.unshift(call);
    else this.queue.push(call);
  }

  private takeIdle(): Http1Connection | undefined {
    const idle = this.idle;
    if (idle.length === 0) return undefined;
    const now = performance.now();
    for (let conn = idle.pop(); conn !== undefined; conn = idle.pop()) {
      if (conn.idleDeadline > now) return conn;
      conn.destroy(); // too close to the upstream's own keep-alive timeout
    }
    return undefined;
  }

  /**
   * A new connection for `call`. It reads into the shared buffer unless a custom connect is
   * set or the call asks for an upgrade (the socket is handed over and read as a stream).
   */
  private open(call: Http1Call): Http1Connection {
    this.opened++;
    const custom = this.connectFn;
    const conn = custom !== undefined
      ? new Http1Connection(this, () => custom(this.host, this.port), false)
      : new Http1Connection(this, (onRead) => defaultConnect(this.host, this.port, onRead), call.req.upgrade !== true);
    this.all.add(conn);
    return conn;
  }

  release(conn: Http1Connection): void {
    if (this.queue.length > 0 && this.queue[0]?.req.upgrade === true && this.connectFn === undefined) {
      // An upgrade needs a socket read as a stream: this one goes, forget() opens one for it.
      conn.destroy();
      return;
    }
    const next = this.queue.shift();
    if (next !== undefined) {
      conn.assign(next);
      return;
    }
    const hint = conn.keepAliveHintMs;
    const keep = hint >= 0 ? Math.min(this.keepAliveTimeout, hint - this.keepAliveMargin) : this.keepAliveTimeout;
    if (keep <= 0 || this.closing) {
      conn.destroy();
      return;
    }
    conn.idleDeadline = performance.now() + keep;
    this.idle.push(conn);
    if (this.sweepTimer === undefined) this.scheduleSweep();
  }

  forget(conn: Http1Connection): void {
    if (!this.all.delete(conn)) return;
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
    // A slot is free: the next queued request gets a new connection.
    const next = this.queue.shift();
    if (next !== undefined) this.open(next).assign(next);
    else if (this.closed !== undefined && this.all.size === 0) this.closed();
  }

  failed(call: Http1Call, err: Error): void {
    if (this.retryStale && !call.retried && !this.closing && err instanceof Http1Error && err.reusedSocket && err.retryable && err.code === 'MERIDIAN_ERR_UPSTREAM_CONNECTION_CLOSED') {
      // The keep-alive race is the connection's fault, not the node's: once more on a new one.
      call.retried = true;
      call.rewind();
      this.dispatch(call, true);
      return;
    }
    call.handler.onError(err);
  }

  cancel(call: Http1Call, reason: Error): void {
    const at = this.queue.indexOf(call);
    if (at >= 0) this.queue.splice(at, 1);
    call.finished = true;
    call.handler.onError(reason);
  }

  /** Idle connections past their deadline are closed even when no request comes to find them; the others stop holding the process open. */
  private scheduleSweep(): void {
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      const now = performance.now();
      for (const conn of this.idle.slice()) {
        if (conn.idleDeadline <= now) conn.destroy();
        else conn.releaseProcess();
      }
      if (this.idle.length > 0) this.scheduleSweep();
    }, Math.min(1_000, this.keepAliveTimeout));
    this.sweepTimer.unref();
  }

  stats(): Http1PoolStats {
    let bufferedBytes = 0;
    for (const conn of this.all) bufferedBytes += conn.bufferedBytes;
    return { connections: this.all.size, idle: this.idle.length, queued: this.queue.length, opened: this.opened, bufferedBytes };
  }

  /** Graceful: no new requests, idle connections closed, running and queued ones finish. */
  close(): Promise<void> {
    this.closing = true;
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const conn of this.idle.slice()) conn.destroy();
    if (this.all.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.closed = resolve;
    });
  }

  /** Now: every connection closed, queued and running requests fail with `reason`. */
  destroy(reason: Error = new Http1Error('MERIDIAN_ERR_UPSTREAM_POOL_CLOSED', { node: this.node }, NO_FACTS)): void {
    this.closing = true;
    for (const call of this.queue.splice(0)) {
      call.finished = true;
      call.handler.onError(reason);
    }
    for (const conn of [...this.all]) {
      const call = conn.call;
      if (call !== null) call.abort(reason);
      else conn.destroy();
    }
  }
}
