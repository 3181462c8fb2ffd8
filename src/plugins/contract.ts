import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TSchema } from '@sinclair/typebox';
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

/** What the gateway hands a plugin for one request. Plugins never touch the router or pools. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
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
}

/** A plugin stops the request by returning a response; undefined lets it go on. */
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
  /** Optional per-worker set-up (connections, timers) and tear-down. */
  init?(services: PluginServices): Promise<void> | void;
  close?(): Promise<void> | void;
}
