import type { SecureContext } from 'node:tls';
import type { TSchema } from '@sinclair/typebox';
import { Consumer, GatewayConfig, GlobalRule, Route, Ssl, Upstream } from '../core/model/index.js';
import { REGIONAL_KINDS as KINDS, type RegionalKind } from '../core/keys.js';
import { check } from '../core/validate.js';
import { MeridianError } from '../core/errors/index.js';
import type { CompiledChain, PluginRegistry } from '../plugins/index.js';
import { Router, patternConflict, patternError, type RouteSpec } from '../router/router.js';
import { compileVars } from '../router/vars.js';
import { varRegexError } from '../core/safe-regex.js';
import { PassiveHealthTracker } from '../upstream/health.js';
import { StaticNodeSource, type NodeSource } from '../upstream/node-source.js';
import type { PoolManager } from '../upstream/pools.js';
import { RuntimeUpstream } from '../upstream/runtime.js';
import type { CompiledRoute } from '../proxy/types.js';
import type { GatewayMetrics } from './metrics.js';
import { TlsTable } from './tls.js';

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

/** Checked config: schema with defaults, then the cross-references a schema cannot state. */
export interface CheckedConfig {
  config: GatewayConfig;
  /** Routes this node serves (enabled, in its region), each with its effective upstream. */
  routes: Array<{ route: Route; upstream: Upstream | undefined; split: Upstream | undefined }>;
  upstreams: Map<string, Upstream>;
}

function reject(reason: string): never {
  throw new MeridianError('MERIDIAN_ERR_GATEWAY_CONFIG_REJECTED', { reason });
}

/** Inline route upstreams get this id (metrics label, status). */
export const inlineUpstreamId = (routeId: string): string => `route.${routeId}`;

/**
 * Validates a data-plane snapshot whole; throws MERIDIAN_ERR_GATEWAY_CONFIG_REJECTED naming
 * the first problem. Nothing of a rejected config is ever served.
 */
export function checkConfig(raw: unknown, region: string | undefined): CheckedConfig {
  return resolveConfig(checkSchema(raw), region);
}

const ITEM_SCHEMAS: Record<RegionalKind, TSchema> = { routes: Route, upstreams: Upstream, consumers: Consumer, ssl: Ssl, global_rules: GlobalRule };
/** Checked resources by their JSON text: with route churn, only what changed is checked again. */
let itemCache = new Map<string, unknown>();
/**
 * Checked resources by the raw object itself: the etcd source hands over the same object for
 * a key that did not change, so most items skip even the JSON text (and keep their identity,
 * which the patches sent to workers rely on).
 */
const checkedByObject = new WeakMap<object, unknown>();

/**
 * The GatewayConfig schema, checked resource by resource with a cache, so a change of one
 * route among 10,000 costs one schema check, not 10,000. Same result as checking the whole.
 */
function checkSchema(raw: unknown): GatewayConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) reject('config: must be an object');
  const input = raw as Record<string, unknown>;
  const top = check(GatewayConfig, Object.fromEntries(Object.entries(input).filter(([k]) => !(KINDS as readonly string[]).includes(k))), 'config');
  if (!top.ok) reject(`${top.field}: ${top.reason}`);
  const out = top.value as GatewayConfig;
  const nextCache = new Map<string, unknown>();
  for (const kind of KINDS) {
    const list = input[kind] ?? [];
    if (!Array.isArray(list)) reject(`${kind}: must be an array, got ${typeof list}`);
    const checked: unknown[] = [];
    list.forEach((item: unknown, i: number) => {
      const isObject = typeof item === 'object' && item !== null;
      const known = isObject ? checkedByObject.get(item) : undefined;
      if (known !== undefined) {
        // Shared between successive configs: nothing downstream mutates a checked resource.
        checked.push(known);
        return;
      }
      const key = `${kind}\n${JSON.stringify(item)}`;
      let value = itemCache.get(key) ?? nextCache.get(key);
      if (value === undefined) {
        const where = `${kind}[${i}]`;
        const res = check(ITEM_SCHEMAS[kind], item, where);
        // Name the resource too: `routes[3].vars[0].source`, not `vars[0].source`.
        if (!res.ok) reject(`${res.field === where ? where : `${where}.${res.field}`}: ${res.reason}`);
        if (kind === 'routes') checkPaths(res.value as Route, i);
        value = res.value;
      }
      if (isObject) checkedByObject.set(item, value);
      nextCache.set(key, value);
      checked.push(value);
    });
    (out as Record<string, unknown>)[kind] = checked;
  }
  itemCache = nextCache;
  return out;
}

/** Path patterns find-my-way would refuse (router trees are built on first use, too late to say no). */
function checkPaths(route: Route, index: number): void {
  route.paths.forEach((p, j) => {
    const error = patternError(p);
    if (error !== undefined) reject(`routes[${index}].paths[${j}]: ${p}: ${error}`);
  });
}

/**
 * The cross-reference checks and route selection of a config whose schema is known good
 * (workers receive configs the primary already checked, and skip the schema pass).
 */
export function resolveConfig(config: GatewayConfig, region: string | undefined): CheckedConfig {
  const upstreams = new Map<string, Upstream>();
  for (const u of config.upstreams) {
    if (upstreams.has(u.id)) reject(`upstreams: duplicate id ${u.id}`);
    checkUpstream(u, `upstream ${u.id}`);
    upstreams.set(u.id, u);
  }
  const ids = new Set<string>();
  const routes: CheckedConfig['routes'] = [];
  for (const r of config.routes) {
    if (ids.has(r.id)) reject(`routes: duplicate id ${r.id}`);
    ids.add(r.id);
    if (r.upstream_id && r.upstream) reject(`route ${r.id}: give upstream_id or upstream, not both`);
    let upstream: Upstream | undefined;
    if (r.upstream_id) {
      upstream = upstreams.get(r.upstream_id);
      if (!upstream) reject(`route ${r.id}: unknown upstream_id ${r.upstream_id}`);
    } else if (r.upstream) {
      upstream = { ...r.upstream, id: inlineUpstreamId(r.id) };
      checkUpstream(upstream, `route ${r.id} upstream`);
    }
    let split: Upstream | undefined;
    if (r.split) {
      split = upstreams.get(r.split.upstream_id);
      if (!split) reject(`route ${r.id}: split.upstream_id ${r.split.upstream_id} is unknown`);
    }
    for (const v of [...(r.vars ?? []), ...(r.split?.match ?? [])]) {
      const error = varRegexError(v);
      if (error !== undefined) reject(`route ${r.id}: vars ${v.name}: ${error}`);
    }
    if (r.enabled === false) continue;
    if (region !== undefined && r.regions && r.regions.length > 0 && !r.regions.includes(region)) continue;
    routes.push({ route: r, upstream, split });
  }
  const sslIds = new Set<string>();
  for (const s of config.ssl) {
    if (sslIds.has(s.id)) reject(`ssl: duplicate id ${s.id}`);
    sslIds.add(s.id);
  }
  return { config, routes, upstreams };
}

function checkUpstream(u: Upstream, where: string): void {
  if (!u.nodes && !u.discovery) reject(`${where}: needs nodes or discovery`);
  if (u.type === 'chash') {
    if (!u.hash_on) reject(`${where}: type chash needs hash_on`);
    if ((u.hash_on.type === 'header' || u.hash_on.type === 'cookie') && !u.hash_on.key) reject(`${where}: hash_on ${u.hash_on.type} needs key`);
  }
  if (u.pass_host === 'rewrite' && !u.upstream_host) reject(`${where}: pass_host rewrite needs upstream_host`);
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

  /** Checks and compiles without creating pools (the primary's dry run and tests). */
  static dryRun(raw: unknown, registry: PluginRegistry, region: string | undefined): CheckedConfig {
    const checked = checkConfig(raw, region);
    checkConsumers(registry, checked.config.consumers);
    const globals = checked.config.global_rules.map((g) => g.plugins);
    const anyGlobal = globals.some(hasPlugins);
    for (const { route, upstream } of checked.routes) {
      // Plugin configs are what compiling checks; a route with no plugin anywhere has none to check.
      if (anyGlobal || hasPlugins(route.plugins) || hasPlugins(upstream?.plugins)) compileChain(registry, globals, upstream, route);
    }
    // Each route's patterns were checked with the schema; what is left is between routes.
    const conflict = patternConflict(checked.routes.map(({ route }) => route));
    if (conflict !== undefined) reject(conflict);
    try {
      new TlsTable(checked.config.ssl);
    } catch (err) {
      reject((err as Error).message);
    }
    return checked;
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

/**
 * Each consumer's plugin entries, checked at config time so a bad one rejects the config whole
 * (reason in /status) rather than failing its requests: an auth plugin's entry is a credential
 * (credentialSchema), any other entry a plugin config merged into the chain after auth.
 */
function checkConsumers(registry: PluginRegistry, consumers: readonly Consumer[]): void {
  for (const c of consumers) {
    const where = `consumer ${c.username}`;
    for (const [name, entry] of Object.entries(c.plugins ?? {})) {
      try {
        if (registry.get(name)?.credentialSchema) registry.validateCredential(name, entry, where);
        else registry.validateConfig(name, entry, where);
      } catch (err) {
        if (err instanceof MeridianError) reject(err.message);
        throw err;
      }
    }
  }
}

/** The schema defaults `plugins` to {}: an empty map is no plugin (and the shared empty chain). */
function hasPlugins(map: Readonly<Record<string, unknown>> | undefined): boolean {
  if (map === undefined) return false;
  for (const _ in map) return true;
  return false;
}

function compileChain(registry: PluginRegistry, globals: Array<Record<string, unknown>>, upstream: Upstream | undefined, route: Route): CompiledChain {
  try {
    return registry.compile({ global: globals, upstream: upstream?.plugins, route: route.plugins }, `route ${route.id}`);
  } catch (err) {
    if (err instanceof MeridianError) reject(err.message);
    throw err;
  }
}
