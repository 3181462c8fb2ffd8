import type { CompiledChain } from '../plugins/index.js';
import type { VarsMatcher } from '../router/vars.js';
import type { RuntimeUpstream } from '../upstream/runtime.js';
import type { Route } from '../core/model/index.js';

/** Traffic share of a route sent to another upstream (canary / blue-green, `Route.split`). */
export interface CompiledSplit {
  readonly upstream: RuntimeUpstream;
  /** Percent 0..100. */
  readonly weight: number;
  readonly match: VarsMatcher | undefined;
}

/** Metrics label for requests that matched no route / were sent to no upstream (bounded cardinality). */
export const NONE = 'none';

/** What the data path records per answered request (the gateway's RouteMetrics implements it). */
export interface RouteObserver {
  observe(upstream: string, status: number, seconds: number): void;
}

/** Everything about a route the hot path needs, computed once when the config is built. */
export interface CompiledRoute {
  readonly id: string;
  readonly spec: Route;
  readonly upstream: RuntimeUpstream | undefined;
  readonly split: CompiledSplit | undefined;
  readonly stripPrefix: string | undefined;
  readonly rewritePath: string | undefined;
  /** Route-level send/read timeouts (ms) overriding the upstream's; undefined = upstream's. */
  readonly sendTimeout: number | undefined;
  readonly readTimeout: number | undefined;
  readonly maxBody: number | undefined;
  readonly chain: CompiledChain;
  readonly metrics: RouteObserver;
}
