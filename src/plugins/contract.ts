import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { TSchema } from '@sinclair/typebox';
import type { MeridianError } from '../core/errors/index.js';
import type { Consumer, Route } from '../core/model/index.js';

/**
 * The one fixed list of phases, in the order a request meets them. Request phases run plugins
 * outer to inner (highest priority first); response phases run inner to outer (the onion).
 * Registering a plugin with a phase not in this list throws.
 */
export const REQUEST_PHASES = ['rewrite', 'access', 'before_proxy'] as const;
export const RESPONSE_PHASES = ['header_filter', 'log'] as const;
export const PHASES = [...REQUEST_PHASES, ...RESPONSE_PHASES] as const;
export type Phase = (typeof PHASES)[number];

/**
 * The client's request: the members of node:http's IncomingMessage that the gateway and plugins
 * use, which node:http2's compat request and the HTTP/1.1 engine's facade
 * (src/gateway/engine-adapter.ts) have too. The body is the stream itself.
 */
export interface GatewayRequest {
  readonly method?: string | undefined;
  /** The raw request target, as sent. */
  readonly url?: string | undefined;
  readonly httpVersion: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  /** Lower-case names; repeated headers as node:http joins them. */
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly socket: { readonly remoteAddress?: string | undefined };
  readonly readableEnded: boolean;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'end' | 'close', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  once(event: 'data', listener: (chunk: Buffer) => void): this;
  once(event: 'end' | 'close', listener: () => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
  off(event: 'data', listener: (chunk: Buffer) => void): this;
  off(event: 'end' | 'close', listener: () => void): this;
  off(event: 'error', listener: (err: Error) => void): this;
  pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean | undefined }): T;
  unpipe(destination?: NodeJS.WritableStream): this;
  pause(): this;
  resume(): this;
  [Symbol.asyncIterator](): AsyncIterator<unknown>;
}

/** The client's response: the members of node:http's ServerResponse the gateway uses (plugins: 'close'). */
export interface GatewayResponse {
  readonly headersSent: boolean;
  /** The connection is gone or the response was given up. */
  readonly destroyed: boolean;
  readonly statusCode: number;
  writeHead(statusCode: number, headers?: OutgoingHttpHeaders | string[]): this;
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): this;
  destroy(error?: Error): this;
  flushHeaders(): void;
  /** 'close': the answer is done or the connection gone; 'finish': end() was called; 'drain': write() may go on. */
  on(event: 'close' | 'finish' | 'drain', listener: () => void): this;
  once(event: 'close' | 'finish' | 'drain', listener: () => void): this;
  off(event: 'close' | 'finish' | 'drain', listener: () => void): this;
}

/** What the gateway hands a plugin for one request. Plugins never touch the router or pools. */
export interface RequestContext {
  readonly req: GatewayRequest;
  readonly res: GatewayResponse;
  readonly requestId: string;
  readonly clientIp: string;
  /** Normalised request path (no query string), as routed. */
  readonly path: string;
  readonly route: Route;
  readonly upstreamId: string | undefined;
  /** Set by an auth plugin; consumer-level plugins then join the chain. */
  consumer: Consumer | undefined;
  /** Headers to add to (or, with null, remove from) the upstream request. */
  readonly upstreamHeaders: Record<string, string | null>;
  /** Headers to add to (or, with null, remove from) the client response. */
  readonly responseHeaders: Record<string, string | null>;
  /** Path sent upstream; a rewrite plugin may change it. */
  upstreamPath: string;
  /** Upstream status once the response headers arrived (header_filter and log). */
  upstreamStatus: number | undefined;
  /** Status sent to the client (log). */
  status: number | undefined;
  /** Per-request scratch space shared by plugins (keyed by plugin name). */
  readonly vars: Map<string, unknown>;
  readonly startedAt: number;

  // --- Optional hooks a plugin sets and the gateway honours (issue 5). All optional, so a
  // gateway that builds the context without them keeps compiling; each one is opt-in per request.

  /** Gateway sets it when the upstream could not be reached or timed out (no upstreamStatus). */
  upstreamError?: string | undefined;
  /**
   * A plugin (proxy-cache) sets it in before_proxy; after header_filter, if still set, the
   * gateway tees the upstream body and calls it once with the whole body and the upstream
   * headers when the response completed normally (never on abort). Bodies over `maxBytes`
   * are not captured (not called).
   */
  captureBody?: BodyCapture | undefined;
  /**
   * A plugin (proxy-cache serve-stale) sets it in before_proxy; when the upstream fails
   * (upstreamError set, or a 5xx before any byte was sent to the client) the gateway calls it
   * and, if it returns a response, sends that instead of its own 502/503/504.
   */
  upstreamFallback?: ((ctx: RequestContext) => ShortCircuit | undefined) | undefined;
  /**
   * A plugin (body-limit) sets it: the gateway stops a request body larger than this many bytes
   * while streaming it (413), for chunked bodies that carry no Content-Length.
   */
  maxRequestBody?: number | undefined;
  /** A plugin (hmac-auth body digest) read the whole body: the gateway sends this instead of req. */
  requestBody?: Buffer | undefined;
}

export interface BodyCapture {
  readonly maxBytes: number;
  /** The whole upstream body and the upstream's response headers (as received). */
  done(body: Buffer, upstreamHeaders: Readonly<Record<string, string | string[]>>): void;
}

/**
 * A plugin stops the request by returning a response; undefined lets it go on. A Buffer or
 * string body is sent as is; any other body as JSON. ctx.responseHeaders apply on top.
 */
export interface ShortCircuit {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type PhaseHandler<C> = (ctx: RequestContext, config: C) => ShortCircuit | undefined | void | Promise<ShortCircuit | undefined | void>;

/** Shared services a plugin may use, handed to `init` once per worker. */
export interface PluginServices {
  /** Redis URL of the region (limit-count, anti-replay, proxy-cache); undefined when none. */
  readonly redisUrl: string | undefined;
  readonly log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void; error(obj: object, msg?: string): void };
  /**
   * The consumers of the config being served (issue 5). The gateway returns the same array
   * object for one config snapshot, so auth plugins rebuild their credential maps only when
   * the identity changes. Optional: absent means no consumers.
   */
  readonly consumers?: () => readonly Consumer[];
}

/** One plugin module: `{ name, version, priority, schema, phases }` (APISIX's shape). */
export interface Plugin<C = unknown> {
  readonly name: string;
  readonly version: string;
  /** Higher runs first on the request (outer), last on the response. */
  readonly priority: number;
  /** TypeBox schema of its config, with defaults stated: validated at load, exact errors. */
  readonly schema: TSchema;
  readonly phases: Partial<Record<Phase, PhaseHandler<C>>>;
  /**
   * Checks the schema cannot express (CIDR ranges, PEM keys, option combinations), run by the
   * registry after the schema check on the config with defaults; the answer is reported like a
   * schema error (MERIDIAN_ERR_PLUGIN_CONFIG with the field and the reason).
   */
  check?(config: C): { field: string; reason: string } | undefined;
  /**
   * Checks against the other plugins of the same chain (configs with defaults, by plugin name),
   * for combinations that are unsafe together; a returned error rejects the chain's config.
   * Run when a route's chain is compiled from its global, upstream and route layers (config
   * time); a consumer's plugins join only at request time, where the plugin checks again.
   */
  checkChain?(config: C, chain: ReadonlyMap<string, unknown>, where: string): MeridianError | undefined;
  /**
   * Auth plugins: schema of the credential a consumer carries under this plugin's name
   * (consumer.plugins['key-auth'] = { key }). Set, the consumer entry is a credential, not a
   * plugin config: the registry skips it when merging the consumer's plugins into the chain.
   */
  readonly credentialSchema?: TSchema;
  /** Optional per-worker set-up (connections, timers) and tear-down. */
  init?(services: PluginServices): Promise<void> | void;
  close?(): Promise<void> | void;
}
