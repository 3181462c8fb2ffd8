import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { ErrorParams } from '../core/errors/index.js';
import type { CompiledChain, GatewayRequest, GatewayResponse, RequestContext, ShortCircuit } from '../plugins/index.js';
import type { RuntimeUpstream } from '../upstream/runtime.js';
import type { ClientHeaders } from './headers.js';
import { NONE, type CompiledRoute, type RouteObserver } from './types.js';

/** Placeholder until prepare sets the request's own list (never written to). */
const NO_HEADERS: string[] = [];

/** What a request needs from its worker: drain state, metrics, plugin error logging. */
export interface RequestEnv {
  readonly draining: boolean;
  /** Where requests that matched no route are counted. */
  readonly unrouted: RouteObserver;
  upstreamSeconds(upstream: string, seconds: number): void;
  /** Bound to the worker: handed to the plugin chain as it is (no closure per request). */
  readonly logPluginError: (name: string, err: unknown) => void;
}

/**
 * One request, from its arrival to its end: everything known about it per request, in one
 * object. The gateway's prepare step (src/gateway/prepare.ts) fills it in; a plain request is
 * an `Exchange` (exchange.ts), an upgrade an `UpgradeRequest` (websocket.ts), and each says how
 * it answers the client and how it reaches the upstream. `finish()` is the one end of every
 * request on every path: status, metrics, the plugins' log phase.
 */
export abstract class ProxyRequest {
  // Fields are declared and set in the constructor, not initialised in the class body: class
  // field definitions cost V8 (Node 20) about twice as much per object, once per request.
  declare readonly env: RequestEnv;
  declare readonly req: GatewayRequest;
  /** An upgrade: its request must not have a body (it would reach the upstream before the switch). */
  declare readonly upgrading: boolean;
  declare readonly startedAt: number;
  declare readonly method: string;
  declare requestId: string;
  declare clientIp: string;
  /** The client's headers as scanned once: what the gateway reads from them, and the list sent upstream. */
  declare clientHeaders: ClientHeaders | undefined;
  declare route: CompiledRoute | undefined;
  /** The upstream chosen for the request (the route's, or its split's). */
  declare upstream: RuntimeUpstream | undefined;
  /** The raw query ('' or '?...'), kept as sent. */
  declare query: string;
  /** Path and query sent upstream (strip_prefix, rewrite_path, then a plugin's ctx.upstreamPath). */
  declare path: string;
  /** Headers sent upstream, flat; Host at hostIndex (rewritten per node when pass_host is `node`). */
  declare headers: string[];
  /** The first this many entries of `headers` came from the strict HTTP/1 parser unchanged (see Http1Request). */
  declare checkedHeaders: number;
  declare hostIndex: number;
  /** A Buffer when a plugin read the whole body (ctx.requestBody). */
  declare body: Readable | Buffer | null;
  declare hashKey: string | undefined;
  /** Routes with plugins: the context the plugins see, and the chain that runs the response phases. */
  declare ctx: RequestContext | undefined;
  declare chain: CompiledChain | undefined;
  /** Metrics label: the upstream the request was sent to; `none` while it was sent nowhere. */
  declare private upstreamLabel: string;
  declare protected finished: boolean;

  constructor(env: RequestEnv, req: GatewayRequest, upgrading: boolean) {
    this.env = env;
    this.req = req;
    this.upgrading = upgrading;
    this.startedAt = performance.now();
    this.method = req.method ?? 'GET';
    this.requestId = '';
    this.clientIp = '';
    this.clientHeaders = undefined;
    this.route = undefined;
    this.upstream = undefined;
    this.query = '';
    this.path = '';
    this.headers = NO_HEADERS;
    this.checkedHeaders = 0;
    this.hostIndex = -1;
    this.body = null;
    this.hashKey = undefined;
    this.ctx = undefined;
    this.chain = undefined;
    this.upstreamLabel = NONE;
    this.finished = false;
  }

  /** Answers with a coded error and finishes. `close` asks the client to drop the connection. */
  refuse(code: string, params: ErrorParams, close = false): void {
    if (this.finished) return;
    this.finish(this.sendError(code, params, close));
  }

  /** Sends the request upstream (its Host header pushed, prepare and the plugins done). */
  forward(): void {
    this.upstreamLabel = (this.upstream as RuntimeUpstream).id;
    this.send();
  }

  /**
   * The end of the request, whatever the path: counted once (route, upstream, status, duration)
   * and, on a route with plugins, its log phase run with the status sent.
   */
  finish(status: number): void {
    if (this.finished) return;
    this.finished = true;
    (this.route?.metrics ?? this.env.unrouted).observe(this.upstreamLabel, status, (performance.now() - this.startedAt) / 1000);
    const ctx = this.ctx;
    if (ctx !== undefined) {
      ctx.status = status;
      (this.chain as CompiledChain).log(ctx, this.env.logPluginError);
    }
  }

  /** The response plugins write to (ctx.res). */
  abstract pluginResponse(): GatewayResponse;
  /** Sends a plugin's answer (request-phase short-circuit) to the client; finish() follows. */
  abstract answer(stop: ShortCircuit): void;
  /** The client went away. */
  abstract clientGone(): boolean;
  /** Sends a coded JSON error; returns its status. */
  protected abstract sendError(code: string, params: ErrorParams, close: boolean): number;
  /** Starts the upstream leg; it calls finish() when the request ends. */
  protected abstract send(): void;
}
