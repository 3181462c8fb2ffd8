import type { SecureContext } from 'node:tls';
import type { Consumer, Route, Upstream } from '../core/model/index.js';
import { MeridianError } from '../core/errors/index.js';
import type { CompiledChain, PluginRegistry } from '../plugins/index.js';
import { Router, type RouteSpec } from '../router/router.js';
import { compileVars } from '../router/vars.js';
import { PassiveHealthTracker } from '../upstream/health.js';
import { StaticNodeSource, type NodeSource } from '../upstream/node-source.js';
import type { PoolManager } from '../upstream/pools.js';
import { RuntimeUpstream } from '../upstream/runtime.js';
import type { CompiledRoute } from '../proxy/types.js';
import type { GatewayMetrics } from './metrics.js';
import { TlsTable } from './tls.js';
import { checkConsumers, compileChain, dryRun, hasPlugins, reject, type CheckedConfig } from './config-check.js';

/** One config generation, immutable: swapped whole, so a request sees one generation only. */
export interface Runtime {
  readonly revision: number;
  readonly router: Router<CompiledRoute>;
  readonly routes: number;
  readonly routeIds: ReadonlySet<string>;
  readonly upstreams: ReadonlyMap<string, RuntimeUpstream>;
  readonly tls: TlsTable;
  readonly buildMs: number;
  /** The config's consumers: one array object per generation (auth plugins key their maps on its identity). */
  readonly consumers: readonly Consumer[];
}

/** Everything a build needs that outlives one generation. */
export interface BuildServices {
  readonly registry: PluginRegistry;
  readonly pools: PoolManager;
  readonly metrics: GatewayMetrics;
  /** Node source of an upstream with `discovery` (the discovery module); static nodes otherwise. */
  readonly discoverySource?: ((u: Upstream) => NodeSource) | undefined;
  readonly region: string | undefined;
}

/**
 * Builds a generation from a checked config. Off the hot path: the caller swaps the result in
 * with one assignment. Upstreams whose definition did not change are carried over as they are
 * (same pools, balancer state, health), so route churn costs no connection.
 */
export class RuntimeBuilder {
  private readonly health = new Map<string, PassiveHealthTracker>();
  private readonly tlsCache = new Map<string, SecureContext>();
  private upstreamDefs = new Map<string, string>();
  /** Compiled routes of the last generation with what they were built from: unchanged ones are reused (and so are their router shards). */
  private compiledRoutes = new Map<string, CompiledEntry>();
  /** The router of the last build, its routes in order and their positions (what a patch applies to). */
  private lastRouter: Router<CompiledRoute> | undefined;
  private lastSpecs: RouteSpec<CompiledRoute>[] = [];
  private positions = new Map<string, number>();
  private globals: Array<Record<string, unknown>> = [];
  private globalsDef = '';
  /** One shared chain for routes with no plugin at any level (most of them, at 10,000 routes). */
  private emptyChain: CompiledChain | undefined;

  constructor(private readonly services: BuildServices) {}

  /** Checks and compiles without creating pools (tests and benches; the primary keeps a ConfigChecker). */
  static dryRun(raw: unknown, registry: PluginRegistry, region: string | undefined): CheckedConfig {
    return dryRun(raw, registry, region);
  }

  build(checked: CheckedConfig, previous: Runtime | undefined): Runtime {
    const t0 = performance.now();
    const { config } = checked;
    checkConsumers(this.services.registry, config.consumers);
    const globals = config.global_rules.map((g) => g.plugins);
    const upstreams = new Map<string, RuntimeUpstream>();
    const defs = new Map<string, string>();
    const upstreamFor = (u: Upstream): RuntimeUpstream => {
      let rt = upstreams.get(u.id);
      if (rt) return rt;
      const def = JSON.stringify(u);
      const prev = previous?.upstreams.get(u.id);
      if (prev && this.upstreamDefs.get(u.id) === def) rt = prev;
      else {
        let health = this.health.get(u.id);
        if (!health) {
          health = new PassiveHealthTracker();
          this.health.set(u.id, health);
        }
        const source = u.discovery && this.services.discoverySource ? this.services.discoverySource(u) : new StaticNodeSource(u.nodes ?? []);
        rt = new RuntimeUpstream(u, source, this.services.pools, health);
      }
      upstreams.set(u.id, rt);
      defs.set(u.id, def);
      return rt;
    };
    const specs: RouteSpec<CompiledRoute>[] = [];
    const globalsDef = JSON.stringify(globals);
    const sameGlobals = globalsDef === this.globalsDef;
    const compiledRoutes: typeof this.compiledRoutes = new Map();
    // Positions of routes compiled anew: with the same routes in the same order as the last
    // build, the router is patched at those positions instead of rebuilt.
    const changed: number[] = [];
    try {
      for (const { route, upstream, split } of checked.routes) {
        const up = upstream ? upstreamFor(upstream) : undefined;
        const sp = split ? upstreamFor(split) : undefined;
        const prev = this.compiledRoutes.get(route.id);
        if (sameGlobals && prev && prev.upstream === up && prev.split === sp && sameRoute(prev, route)) {
          compiledRoutes.set(route.id, prev);
          specs.push(routeSpec(route, prev.compiled));
          continue;
        }
        const entry = this.compileRoute(route, up, sp, upstream, globals);
        compiledRoutes.set(route.id, entry);
        changed.push(specs.length);
        specs.push(routeSpec(route, entry.compiled));
      }
      const prevRouter = previous?.router;
      const patchable = prevRouter !== undefined && prevRouter === this.lastRouter && changed.length <= specs.length / 4 && sameOrder(this.lastSpecs, specs);
      const router = patchable ? new Router(specs, prevRouter, {}, changed) : new Router(specs, prevRouter);
      const tls = new TlsTable(config.ssl, this.tlsCache);
      this.upstreamDefs = defs;
      this.compiledRoutes = compiledRoutes;
      this.lastRouter = router;
      this.lastSpecs = specs;
      this.positions = new Map(specs.map((r, i) => [r.id, i]));
      this.globalsDef = globalsDef;
      this.globals = globals;
      return { revision: config.revision, router, routes: specs.length, routeIds: new Set(specs.map((s) => s.id)), upstreams, tls, buildMs: performance.now() - t0, consumers: config.consumers };
    } catch (err) {
      this.lastRouter = undefined; // what the failed config changed is unknown to later patches
      // Never leak pools of a generation that will not serve.
      for (const u of upstreams.values()) if (u !== previous?.upstreams.get(u.id)) u.dispose();
      if (err instanceof MeridianError) throw err;
      reject((err as Error).message);
    }
  }

  /**
   * A generation that differs from `previous` (the last one built) only in these routes: same
   * ids in the same order, each served before and after, on upstreams `previous` has. Costs
   * the changed routes, not the config: route churn among 10,000 routes stays off the hot
   * path. Undefined when the change is not of that kind; the caller then builds in full.
   */
  patchRoutes(revision: number, previous: Runtime, routes: ReadonlyMap<string, Route>): Runtime | undefined {
    if (previous.router !== this.lastRouter || routes.size > this.lastSpecs.length / 4) return undefined;
    const t0 = performance.now();
    const region = this.services.region;
    const specs = this.lastSpecs.slice();
    const entries: Array<[string, CompiledEntry]> = [];
    const changed: number[] = [];
    try {
      for (const [id, route] of routes) {
        const at = this.positions.get(id);
        if (at === undefined || route.enabled === false || !route.upstream_id || route.upstream !== undefined) return undefined;
        if (region !== undefined && route.regions && route.regions.length > 0 && !route.regions.includes(region)) return undefined;
        const up = previous.upstreams.get(route.upstream_id);
        const sp = route.split ? previous.upstreams.get(route.split.upstream_id) : undefined;
        if (up === undefined || (route.split && sp === undefined)) return undefined;
        const entry = this.compileRoute(route, up, sp, up.spec, this.globals);
        entries.push([id, entry]);
        changed.push(at);
        specs[at] = routeSpec(route, entry.compiled);
      }
    } catch (err) {
      this.lastRouter = undefined; // rejected: the next build is a full one, which judges the config whole
      throw err;
    }
    const router = new Router(specs, previous.router, {}, changed);
    for (const [id, entry] of entries) this.compiledRoutes.set(id, entry);
    this.lastRouter = router;
    this.lastSpecs = specs;
    return { ...previous, revision, router, buildMs: performance.now() - t0 };
  }

  private compileRoute(route: Route, up: RuntimeUpstream | undefined, sp: RuntimeUpstream | undefined, upstream: Upstream | undefined, globals: Array<Record<string, unknown>>): CompiledEntry {
    const plugged = globals.some(hasPlugins) || hasPlugins(route.plugins) || hasPlugins(upstream?.plugins);
    const chain = plugged ? compileChain(this.services.registry, globals, upstream, route) : (this.emptyChain ??= this.services.registry.compile({}, 'no plugins'));
    const compiled: CompiledRoute = {
      id: route.id,
      spec: route,
      upstream: up,
      split: sp && route.split ? { upstream: sp, weight: route.split.weight ?? 0, match: route.split.match && route.split.match.length > 0 ? compileVars(route.split.match) : undefined } : undefined,
      stripPrefix: route.strip_prefix?.replace(/\/$/, ''),
      rewritePath: route.rewrite_path,
      sendTimeout: route.timeout?.send,
      readTimeout: route.timeout?.read,
      maxBody: route.max_body_size,
      chain,
      metrics: this.services.metrics.route(route.id),
    };
    return { route, def: undefined, upstream: up, split: sp, compiled };
  }

  /** After the swap: release what the old generation held and the new one does not. */
  retire(old: Runtime, current: Runtime): void {
    // A route patch keeps every upstream and route id: nothing to release.
    if (old.upstreams === current.upstreams && old.routeIds === current.routeIds) return;
    for (const [id, u] of old.upstreams) {
      if (current.upstreams.get(id) === u) continue;
      u.dispose();
      u.nodeSource.stop().catch(() => undefined);
    }
    for (const [id, tracker] of this.health) {
      if (current.upstreams.has(id)) continue;
      tracker.stop();
      this.health.delete(id);
    }
    this.services.metrics.retain(current.routeIds, new Set(current.upstreams.keys()));
  }
}

function sameOrder(a: readonly RouteSpec<unknown>[], b: readonly RouteSpec<unknown>[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if ((a[i] as RouteSpec<unknown>).id !== (b[i] as RouteSpec<unknown>).id) return false;
  return true;
}

/** A compiled route with what it was built from; `def` (its JSON) only once a comparison needed it. */
interface CompiledEntry {
  route: Route;
  def: string | undefined;
  upstream: RuntimeUpstream | undefined;
  split: RuntimeUpstream | undefined;
  compiled: CompiledRoute;
}

/**
 * Unchanged since the entry was built: the same object (configs patched in place, the usual
 * case under churn) or, for a config that arrived whole, the same JSON.
 */
function sameRoute(entry: CompiledEntry, route: Route): boolean {
  if (entry.route === route) return true;
  entry.def ??= JSON.stringify(entry.route);
  if (entry.def !== JSON.stringify(route)) return false;
  entry.route = route;
  return true;
}

function routeSpec<T>(route: Route, value: T): RouteSpec<T> {
  return { id: route.id, hosts: route.hosts, paths: route.paths, methods: route.methods, vars: route.vars, priority: route.priority ?? 0, value };
}

