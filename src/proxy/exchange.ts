import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { observeLatency } from '../balancer/index.js';
import { settle, type BodyCapture, type CompiledChain, type GatewayRequest, type GatewayResponse, type RequestContext, type ShortCircuit } from '../plugins/index.js';
import { Http1Error, Http1Pool, gatewayErrorOf, type Http1Exchange, type Http1Handler, type Http1Request } from '../upstream/http1/index.js';
import type { RuntimeNode, RuntimeUpstream } from '../upstream/runtime.js';
import { MeridianError, type ErrorParams } from '../core/errors/index.js';
import { BodyTooLargeError } from './body-limit.js';
import { headerObject, responseHeaders } from './headers.js';
import { ProxyRequest, type RequestEnv } from './request.js';
import { isHttp2, sendError, type ClientResponse } from './respond.js';
import type { CompiledRoute } from './types.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Errors where the request never reached the upstream's application: safe to send elsewhere. */
const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED']);

class SendTimeoutError extends Error {
  readonly code = 'MERIDIAN_SEND_TIMEOUT';
}
class ClientGoneError extends Error {
  readonly code = 'MERIDIAN_CLIENT_GONE';
}

/**
 * One plain (not upgrade) request, and once it is sent, its proxying: picks a node, sends it
 * on the node's pool and streams the answer back, retrying connection failures of idempotent,
 * body-less requests on another node. Plain-HTTP nodes have an Http1Pool (src/upstream/http1),
 * HTTPS nodes an undici Pool. The exchange is the request's context (ProxyRequest), the
 * pool's request and the handler of both (callbacks called directly, no adapter, no parsed
 * header object), so a request costs one object, not a closure tree.
 */
export class Exchange extends ProxyRequest implements Dispatcher.DispatchHandler, Http1Handler, Http1Request {
  // Set by prepare before send(): every method below runs after it.
  declare route: CompiledRoute;
  declare upstream: RuntimeUpstream;
  declare readonly res: ClientResponse;
  declare private node: RuntimeNode | undefined;
  declare private tried: RuntimeNode[] | undefined;
  declare private attempts: number;
  /** The request in flight on an Http1Pool (abort and resume go through it). */
  declare private h1: Http1Exchange | undefined;
  declare private abortUpstream: ((err?: Error) => void) | undefined;
  declare private resumeUpstream: (() => void) | undefined;
  /** An attempt went to an Http1Pool (the request body may be left half read when it ends). */
  declare private h1Used: boolean;
  /** Http1Request: the route's (else the upstream's) timeouts of the current attempt, ms. */
  declare sendTimeout: number;
  declare readTimeout: number;
  declare private upstreamStart: number;
  declare private status: number;
  declare private headersWritten: boolean;
  declare private completed: boolean;
  declare private sendTimer: NodeJS.Timeout | undefined;
  // Plugin-path state below; a route with no plugins never sets or reads it.
  declare private pendingChunks: Buffer[] | undefined;
  /** A plugin answered instead of the upstream (header_filter, fallback): its status; the upstream body is dropped. */
  declare private replacedStatus: number;
  declare private capture: { readonly hook: BodyCapture; chunks: Buffer[]; size: number; headers: string[] } | undefined;

  // Set in the constructor, as ProxyRequest's fields are (see there).
  constructor(env: RequestEnv, req: GatewayRequest, res: ClientResponse) {
    super(env, req, false);
    this.res = res;
    this.node = undefined;
    this.tried = undefined;
    this.attempts = 0;
    this.h1 = undefined;
    this.abortUpstream = undefined;
    this.resumeUpstream = undefined;
    this.h1Used = false;
    this.sendTimeout = 0;
    this.readTimeout = 0;
    this.upstreamStart = 0;
    this.status = 0;
    this.headersWritten = false;
    this.completed = false;
    this.sendTimer = undefined;
    this.pendingChunks = undefined;
    this.replacedStatus = 0;
    this.capture = undefined;
  }

  pluginResponse(): GatewayResponse {
    return this.res;
  }

  answer(stop: ShortCircuit): void {
    if (!this.res.destroyed) sendShortCircuit(this.res, this.ctx as RequestContext, stop, this.env.draining);
  }

  clientGone(): boolean {
    return this.res.destroyed;
  }

  protected sendError(code: string, params: ErrorParams, close: boolean): number {
    return sendError(this.res, code, params, this.requestId, close || this.env.draining);
  }

  protected send(): void {
    // The request's one closure. Made here, not in the constructor: V8 keeps a closure made in a
    // derived class's constructor (and its request) alive across young-generation collections.
    this.res.once('close', () => this.onClientClose());
    this.attempt();
  }

  /** The client's connection closed before the end: the upstream leg is aborted (it ends the request with 499). */
  private onClientClose(): void {
    if (this.finished) return;
    const err = new ClientGoneError('client closed the connection');
    if (this.h1 !== undefined) this.h1.abort(err);
    else this.abortUpstream?.(err);
  }

  private attempt(): void {
    const node = this.upstream.select(this.hashKey, this.tried);
    if (node === undefined) {
      if (this.attempts === 0) this.upstreamFailed('MERIDIAN_ERR_GATEWAY_NO_HEALTHY_NODE', { upstream: this.upstream.id });
      else this.upstreamFailed('MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR', { upstream: this.upstream.id, reason: 'no other node to retry on' });
      return;
    }
    this.node = node;
    this.attempts++;
    node.inflight++;
    if (this.upstream.passHost === 'node') this.headers[this.hostIndex] = node.hostHeader;
    this.upstreamStart = performance.now();
    const read = this.route.readTimeout ?? this.upstream.timeouts.read;
    const pool = node.pool;
    if (pool instanceof Http1Pool) {
      // The client runs the send and read timeouts itself.
      this.h1Used = true;
      this.readTimeout = read;
      this.sendTimeout = this.route.sendTimeout ?? this.upstream.timeouts.send;
      const attempt = this.attempts;
      const call = pool.request(this, this);
      // A request the pool refused at once has already failed (and maybe retried elsewhere).
      if (attempt !== this.attempts || this.finished) return;
      this.h1 = call;
      if (this.res.destroyed) call.abort(new ClientGoneError('client closed the connection'));
      return;
    }
    if (this.body !== null) {
      const send = this.route.sendTimeout ?? this.upstream.timeouts.send;
      if (send > 0) this.sendTimer = setTimeout(() => this.onSendTimeout(), send);
    }
    try {
      pool.dispatch({ path: this.path, method: this.method as Dispatcher.HttpMethod, headers: this.headers, body: this.body, headersTimeout: read, bodyTimeout: read }, this);
    } catch (err) {
      this.onError(err as Error);
    }
  }

  private onSendTimeout(): void {
    this.sendTimer = undefined;
    this.abortUpstream?.(new SendTimeoutError('request body not sent in time'));
  }

  // ---- undici handler ----

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.res.destroyed) abort(new ClientGoneError('client closed the connection'));
  }

  onRequestSent(): void {
    if (this.sendTimer) {
      clearTimeout(this.sendTimer);
      this.sendTimer = undefined;
    }
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, _statusText: string): boolean {
    if (status < 200) return true; // 1xx informational: the client gets the final answer only
    this.resumeUpstream = resume;
    return this.responseHead(status, raw);
  }

  // ---- Http1Handler (onData and onRequestSent are shared with undici's) ----

  onResponse(status: number, headers: string[], call: Http1Exchange): void {
    this.h1 = call;
    this.responseHead(status, headers);
  }

  onEnd(): void {
    this.onComplete();
  }

  /** The upstream's final response head: node health and latency, then the client's head. */
  private responseHead(status: number, raw: readonly Buffer[] | readonly string[]): boolean {
    this.status = status;
    const node = this.node as RuntimeNode;
    if (status >= 500 && this.upstream.health.settings.on_5xx) this.upstream.health.failure(node.health);
    else this.upstream.health.success(node.health);
    if (this.upstream.latencyAware) observeLatency(node, performance.now() - this.upstreamStart, Date.now());
    const out = responseHeaders(raw);
    out.push('x-request-id', this.requestId);
    if (this.env.draining) out.push('connection', 'close');
    const ctx = this.ctx;
    if (ctx !== undefined) return this.pluginHeaders(ctx, status, out);
    this.writeHead(status, out);
    return true;
  }

  /** onHeaders of a route with plugins: serve-stale on a 5xx, header_filter (which may replace the answer), body capture. */
  private pluginHeaders(ctx: RequestContext, status: number, out: string[]): boolean {
    ctx.upstreamStatus = status;
    if (status >= 500 && ctx.upstreamFallback !== undefined) {
      // Nothing has reached the client yet: a stale copy beats the upstream's error.
      const fallback = ctx.upstreamFallback(ctx);
      if (fallback !== undefined) {
        ctx.captureBody = undefined; // never cache the error body
        this.pendingChunks = [];
        this.headerFilterThen(() => this.replace(fallback));
        return true;
      }
    }
    if (!(this.chain as CompiledChain).has('header_filter')) {
      this.startCapture(ctx, out);
      this.writeHead(status, out);
      return true;
    }
    // Response plugins may be async: hold the body until they are done.
    this.pendingChunks = [];
    this.headerFilterThen((replaced) => {
      if (replaced !== undefined) this.replace(replaced);
      else {
        this.startCapture(ctx, out);
        this.writeHead(status, out);
      }
    });
    return true;
  }

  private headerFilterThen(next: (replaced: ShortCircuit | undefined) => void): void {
    // Synchronous filters answer at once: the body is then written as it arrives, not held.
    settle(() => (this.chain as CompiledChain).headerFilter(this.ctx as RequestContext), next, (err: unknown) => {
      this.env.logPluginError('header_filter', err);
      next(undefined);
    });
  }

  /** ctx.captureBody still set after header_filter: copy the upstream body as it streams (proxy-cache). */
  private startCapture(ctx: RequestContext, out: string[]): void {
    const hook = ctx.captureBody;
    if (hook !== undefined) this.capture = { hook, chunks: [], size: 0, headers: out.slice() };
  }

  /** Sends a plugin's response instead of the upstream's; the upstream body is then read and dropped. */
  private replace(answer: ShortCircuit): void {
    this.pendingChunks = undefined;
    this.replacedStatus = answer.status;
    (this.ctx as RequestContext).status = answer.status;
    this.answer(answer);
    this.headersWritten = true;
    if (this.completed) this.end(answer.status, true);
  }

  private writeHead(status: number, out: string[]): void {
    if (this.res.destroyed) return;
    if (this.ctx !== undefined) applyHeaderEdits(out, this.ctx.responseHeaders);
    if (isHttp2(this.res)) this.res.writeHead(status, headerObject(out));
    else this.res.writeHead(status, out);
    this.headersWritten = true;
    // Event streams must reach the client now, not with the first event.
    for (let i = 0; i < out.length; i += 2) {
      if ((out[i] as string).length === 12 && (out[i] as string).toLowerCase() === 'content-type' && (out[i + 1] as string).startsWith('text/event-stream')) {
        if (typeof this.res.flushHeaders === 'function') this.res.flushHeaders();
        break;
      }
    }
    const pending = this.pendingChunks;
    if (pending !== undefined) {
      this.pendingChunks = undefined;
      for (const c of pending) {
        if (this.capture !== undefined) this.captureChunk(c);
        this.res.write(c);
      }
      if (this.completed) {
        this.finishResponse();
        this.deliverCapture();
      }
    }
  }

  onData(chunk: Buffer): boolean {
    // The only cost of plugins on this path for a route without any: this check.
    if (this.ctx !== undefined && this.pluginData(chunk)) return true;
    if (this.res.write(chunk)) return true;
    // Client slower than upstream: pause the upstream until the client drains.
    this.res.once('drain', this.resumeUpstream ??= () => this.h1?.resume());
    return false;
  }

  /** True when the chunk was taken (held for header_filter, or dropped after a replacement). */
  private pluginData(chunk: Buffer): boolean {
    if (this.pendingChunks !== undefined) {
      this.pendingChunks.push(chunk);
      return true;
    }
    if (this.replacedStatus !== 0) return true;
    if (this.capture !== undefined) this.captureChunk(chunk);
    return false;
  }

  private captureChunk(chunk: Buffer): void {
    const c = this.capture as NonNullable<typeof this.capture>;
    c.size += chunk.length;
    // Over the limit it will not be captured: stop copying (and keep memory bounded).
    if (c.size > c.hook.maxBytes) this.capture = undefined;
    else c.chunks.push(chunk);
  }

  onComplete(): void {
    this.completed = true;
    // Routes without plugins pay one check here.
    if (this.ctx !== undefined) this.pluginComplete();
    else this.finishResponse();
  }

  private finishResponse(): void {
    this.res.end();
    this.end(this.status, true);
  }

  private pluginComplete(): void {
    if (this.pendingChunks !== undefined) return; // finished by writeHead or replace
    if (this.replacedStatus !== 0) {
      this.end(this.replacedStatus, true);
      return;
    }
    this.finishResponse();
    this.deliverCapture();
  }

  private deliverCapture(): void {
    const c = this.capture;
    if (c !== undefined) {
      // Only a response that completed normally is captured (onComplete, never onError).
      this.capture = undefined;
      try {
        c.hook.done(Buffer.concat(c.chunks, c.size), headerObject(c.headers));
      } catch (err) {
        this.env.logPluginError('captureBody', err);
      }
    }
  }

  onError(err: Error): void {
    if (this.sendTimer) {
      clearTimeout(this.sendTimer);
      this.sendTimer = undefined;
    }
    this.h1 = undefined;
    const code = (err as { code?: string }).code ?? '';
    const node = this.node;
    if (code === 'MERIDIAN_CLIENT_GONE') {
      this.end(499, false);
      return;
    }
    if (this.replacedStatus !== 0) {
      // A plugin's answer is already out whole; only the dropped upstream body failed.
      this.end(this.replacedStatus, false);
      return;
    }
    if (this.headersWritten || this.status !== 0) {
      // Mid-body failure: the status is already out, the only honest signal is a cut connection.
      if (node && (code === 'UND_ERR_BODY_TIMEOUT' || code === 'MERIDIAN_ERR_UPSTREAM_READ_TIMEOUT')) this.upstream.health.failure(node.health);
      this.res.destroy();
      this.end(this.status, false);
      return;
    }
    if (err instanceof BodyTooLargeError) {
      this.release(false);
      this.fail(err.errorCode, { limit: err.limit }, true);
      return;
    }
    if (err instanceof Http1Error) {
      this.http1Failed(err);
      return;
    }
    const connectionError = CONNECTION_ERRORS.has(code);
    if (node && (connectionError || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'MERIDIAN_SEND_TIMEOUT')) this.upstream.health.failure(node.health);
    this.release(false);
    if (connectionError && this.body === null && IDEMPOTENT.has(this.method) && this.attempts <= this.upstream.retries && node) {
      (this.tried ??= []).push(node);
      this.abortUpstream = undefined;
      this.attempt();
      return;
    }
    if (code === 'UND_ERR_HEADERS_TIMEOUT') this.upstreamFailed('MERIDIAN_ERR_GATEWAY_UPSTREAM_TIMEOUT', { upstream: this.upstream.id, phase: 'read' });
    else if (code === 'UND_ERR_CONNECT_TIMEOUT') this.upstreamFailed('MERIDIAN_ERR_GATEWAY_UPSTREAM_TIMEOUT', { upstream: this.upstream.id, phase: 'connect' });
    else if (code === 'MERIDIAN_SEND_TIMEOUT') this.upstreamFailed('MERIDIAN_ERR_GATEWAY_UPSTREAM_TIMEOUT', { upstream: this.upstream.id, phase: 'send' }, true);
    else this.upstreamFailed('MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR', { upstream: this.upstream.id, reason: code || err.message });
  }

  /** An Http1Pool's failure before the response head (src/upstream/README.md, "The exchange on this client"). */
  private http1Failed(err: Http1Error): void {
    const node = this.node;
    // The pool refusing to send (a bad header) or being closed is not the node's fault.
    if (node && err.code !== 'MERIDIAN_ERR_UPSTREAM_BAD_REQUEST' && err.code !== 'MERIDIAN_ERR_UPSTREAM_POOL_CLOSED') this.upstream.health.failure(node.health);
    this.release(false);
    // As with undici: a connection that failed or closed before the answer sends an idempotent,
    // body-less request to another node (the keep-alive race was already retried by the pool).
    const connectionError = err.retryable || err.code === 'MERIDIAN_ERR_UPSTREAM_CONNECTION_CLOSED';
    if (connectionError && this.body === null && IDEMPOTENT.has(this.method) && this.attempts <= this.upstream.retries && node) {
      (this.tried ??= []).push(node);
      this.attempt();
      return;
    }
    const { code, params } = gatewayErrorOf(err, this.upstream.id);
    // A send timeout leaves the client's body unread: the connection cannot be reused.
    this.upstreamFailed(code, params, err.isTimeout && err.phase === 'send');
  }

  /**
   * The upstream could not be reached or timed out. With plugins: ctx.upstreamError tells the
   * breakers, and ctx.upstreamFallback (serve-stale) may answer instead of the 502/504.
   */
  private upstreamFailed(code: string, params: Record<string, string | number>, close = false): void {
    const ctx = this.ctx;
    if (ctx !== undefined) {
      ctx.upstreamError = new MeridianError(code, params).message;
      const fallback = ctx.upstreamFallback?.(ctx);
      if (fallback !== undefined) {
        this.pendingChunks = [];
        this.completed = true; // no upstream body will come: replace() finishes at once
        this.headerFilterThen(() => this.replace(fallback));
        return;
      }
    }
    this.fail(code, params, close);
  }

  /** Node bookkeeping for the current attempt; `ok` attempts feed the latency figures. */
  private release(ok: boolean): void {
    const node = this.node;
    if (!node) return;
    this.node = undefined;
    node.inflight--;
    if (ok) this.env.upstreamSeconds(this.upstream.id, (performance.now() - this.upstreamStart) / 1000);
  }

  private fail(code: string, params: Record<string, string | number>, close = false): void {
    this.end(this.sendError(code, params, close), false);
  }

  /** The upstream leg is over: the node released, then the request finished (ProxyRequest.finish). */
  private end(status: number, ok: boolean): void {
    if (this.finished) return;
    this.release(ok);
    // On Http1Pool the upstream may answer (or fail) before the request body was all sent: the
    // client's rest is read and dropped, as node:http does with a body nobody reads, so the
    // client connection moves on. From the request itself: a body-limit stream piped from it
    // would fail past its limit with nobody listening.
    if (this.h1Used && this.body !== null && !this.req.readableEnded) {
      this.req.unpipe();
      this.req.resume();
    }
    this.finish(status);
  }
}

/**
 * A plugin's response (request-phase short-circuit, header_filter replacement, serve-stale):
 * Buffer or string body as is, anything else as JSON; ctx.responseHeaders on top.
 */
export function sendShortCircuit(res: ClientResponse, ctx: RequestContext, stop: ShortCircuit, draining: boolean): void {
  let body = stop.body;
  const isJson = typeof body === 'object' && body !== null && !Buffer.isBuffer(body);
  // Catalogue errors from plugins carry the request id in the body too, like the gateway's own.
  if (isJson && typeof (body as { code?: unknown }).code === 'string' && !('request_id' in (body as object))) body = { ...(body as object), request_id: ctx.requestId };
  const payload = body === undefined ? '' : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const out: string[] = [];
  for (const [k, v] of Object.entries(stop.headers ?? {})) out.push(k, v);
  // A known length, not chunked framing, for an answer that is complete here.
  if (!out.some((x, i) => i % 2 === 0 && (x.toLowerCase() === 'content-length' || x.toLowerCase() === 'transfer-encoding'))) out.push('content-length', String(Buffer.byteLength(payload)));
  if (isJson && !out.some((x, i) => i % 2 === 0 && x.toLowerCase() === 'content-type')) out.push('content-type', 'application/json');
  applyHeaderEdits(out, { 'x-request-id': ctx.requestId });
  applyHeaderEdits(out, ctx.responseHeaders);
  if (draining && !isHttp2(res)) out.push('connection', 'close');
  if (isHttp2(res)) res.writeHead(stop.status, headerObject(out));
  else res.writeHead(stop.status, out);
  res.end(payload);
}

/** Plugin header edits: a value sets (replacing any), null removes. */
export function applyHeaderEdits(out: string[], edits: Readonly<Record<string, string | null>>): void {
  for (const name in edits) {
    const lower = name.toLowerCase();
    for (let i = out.length - 2; i >= 0; i -= 2) if ((out[i] as string).toLowerCase() === lower) out.splice(i, 2);
    const v = edits[name];
    if (typeof v === 'string') out.push(name, v);
  }
}
