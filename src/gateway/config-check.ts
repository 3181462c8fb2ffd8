import type { TSchema } from '@sinclair/typebox';
import { Consumer, GatewayConfig, GlobalRule, Route, Ssl, Upstream } from '../core/model/index.js';
import { REGIONAL_KINDS as KINDS, type RegionalKind } from '../core/keys.js';
import { check } from '../core/validate.js';
import { MeridianError } from '../core/errors/index.js';
import type { CompiledChain, PluginRegistry } from '../plugins/index.js';
import { PatternIndex, patternError } from '../router/router.js';
import { varRegexError } from '../core/safe-regex.js';
import { TlsTable } from './tls.js';

/** A route this node serves (enabled, in its region), with its effective upstreams. */
export interface ServedRoute {
  route: Route;
  upstream: Upstream | undefined;
  split: Upstream | undefined;
}

/** Checked config: schema with defaults, then the cross-references a schema cannot state. */
export interface CheckedConfig {
  config: GatewayConfig;
  /** Routes this node serves, in config order. */
  routes: ServedRoute[];
  upstreams: Map<string, Upstream>;
}

export function reject(reason: string): never {
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

/** The config without its resource lists, checked (defaults applied). */
function checkTop(raw: unknown): GatewayConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) reject('config: must be an object');
  const top = check(GatewayConfig, Object.fromEntries(Object.entries(raw).filter(([k]) => !(KINDS as readonly string[]).includes(k))), 'config');
  if (!top.ok) reject(`${top.field}: ${top.reason}`);
  return top.value as GatewayConfig;
}

/** One resource checked against its schema (cached by object and by JSON text). */
function checkItem(kind: RegionalKind, item: unknown, index: number, nextCache: Map<string, unknown>): unknown {
  const isObject = typeof item === 'object' && item !== null;
  const known = isObject ? checkedByObject.get(item) : undefined;
  // Shared between successive configs: nothing downstream mutates a checked resource.
  if (known !== undefined) return known;
  const key = `${kind}\n${JSON.stringify(item)}`;
  let value = itemCache.get(key) ?? nextCache.get(key);
  if (value === undefined) {
    const where = `${kind}[${index}]`;
    const res = check(ITEM_SCHEMAS[kind], item, where);
    // Name the resource too: `routes[3].vars[0].source`, not `vars[0].source`.
    if (!res.ok) reject(`${res.field === where ? where : `${where}.${res.field}`}: ${res.reason}`);
    if (kind === 'routes') checkPaths(res.value as Route, index);
    value = res.value;
  }
  if (isObject) checkedByObject.set(item, value);
  nextCache.set(key, value);
  return value;
}

/**
 * The GatewayConfig schema, checked resource by resource with a cache, so a change of one
 * route among 10,000 costs one schema check, not 10,000. Same result as checking the whole.
 */
function checkSchema(raw: unknown): GatewayConfig {
  const out = checkTop(raw);
  const input = raw as Record<string, unknown>;
  const nextCache = new Map<string, unknown>();
  for (const kind of KINDS) {
    const list = input[kind] ?? [];
    if (!Array.isArray(list)) reject(`${kind}: must be an array, got ${typeof list}`);
    (out as Record<string, unknown>)[kind] = list.map((item: unknown, i: number) => checkItem(kind, item, i, nextCache));
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
  const { routes, upstreams } = resolveByPosition(config, region);
  return { config, routes: routes.filter((r) => r !== undefined), upstreams };
}

/** resolveConfig, with each route's result at its position in `config.routes` (undefined: not served here). */
function resolveByPosition(config: GatewayConfig, region: string | undefined): { routes: Array<ServedRoute | undefined>; upstreams: Map<string, Upstream> } {
  const upstreams = new Map<string, Upstream>();
  for (const u of config.upstreams) {
    if (upstreams.has(u.id)) reject(`upstreams: duplicate id ${u.id}`);
    checkUpstream(u, `upstream ${u.id}`);
    upstreams.set(u.id, u);
  }
  const ids = new Set<string>();
  const routes = config.routes.map((r) => {
    if (ids.has(r.id)) reject(`routes: duplicate id ${r.id}`);
    ids.add(r.id);
    return resolveRoute(r, upstreams, region);
  });
  const sslIds = new Set<string>();
  for (const s of config.ssl) {
    if (sslIds.has(s.id)) reject(`ssl: duplicate id ${s.id}`);
    sslIds.add(s.id);
  }
  return { routes, upstreams };
}

/** One route's references and regexes checked; what this node serves of it, or undefined. */
function resolveRoute(r: Route, upstreams: ReadonlyMap<string, Upstream>, region: string | undefined): ServedRoute | undefined {
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
  for (const list of [r.vars, r.split?.match]) {
    for (const v of list ?? []) {
      const error = varRegexError(v);
      if (error !== undefined) reject(`route ${r.id}: vars ${v.name}: ${error}`);
    }
  }
  if (r.enabled === false) return undefined;
  if (region !== undefined && r.regions && r.regions.length > 0 && !r.regions.includes(region)) return undefined;
  return { route: r, upstream, split };
}

function checkUpstream(u: Upstream, where: string): void {
  if (!u.nodes && !u.discovery) reject(`${where}: needs nodes or discovery`);
  if (u.type === 'chash') {
    if (!u.hash_on) reject(`${where}: type chash needs hash_on`);
    if ((u.hash_on.type === 'header' || u.hash_on.type === 'cookie') && !u.hash_on.key) reject(`${where}: hash_on ${u.hash_on.type} needs key`);
  }
  if (u.pass_host === 'rewrite' && !u.upstream_host) reject(`${where}: pass_host rewrite needs upstream_host`);
}

/** Plugin configs are what compiling checks; a route with no plugin anywhere has none to check. */
function checkRoutePlugins(registry: PluginRegistry, globals: Array<Record<string, unknown>>, served: ServedRoute): void {
  if (globals.some(hasPlugins) || hasPlugins(served.route.plugins) || hasPlugins(served.upstream?.plugins)) compileChain(registry, globals, served.upstream, served.route);
}

/** What `dryRun` keeps to check the next config by its changes (see ConfigChecker). */
interface CheckState {
  checked: CheckedConfig;
  /** The raw resource lists the config was checked from (their items are compared by identity). */
  raw: Record<RegionalKind, readonly unknown[]>;
  /** The config without its resource lists and revision, as JSON. */
  top: string;
  /** Each route's result by its position in `checked.config.routes`. */
  served: Array<ServedRoute | undefined>;
  patterns: PatternIndex;
  globals: Array<Record<string, unknown>>;
}

function topKey(config: GatewayConfig): string {
  const top: Record<string, unknown> = { ...config };
  for (const k of KINDS) delete top[k];
  delete top.revision;
  return JSON.stringify(top);
}

/** The whole check: schema, references, plugin configs, pattern conflicts between routes, certificates. */
function fullCheck(raw: unknown, registry: PluginRegistry, region: string | undefined): CheckState {
  const config = checkSchema(raw);
  const { routes: served, upstreams } = resolveByPosition(config, region);
  const routes = served.filter((r) => r !== undefined);
  checkConsumers(registry, config.consumers);
  const globals = config.global_rules.map((g) => g.plugins);
  for (const r of routes) checkRoutePlugins(registry, globals, r);
  // Each route's patterns were checked with the schema; what is left is between routes.
  const patterns = new PatternIndex();
  for (const { route } of routes) {
    const conflict = patterns.add(route);
    if (conflict !== undefined) reject(conflict);
  }
  try {
    new TlsTable(config.ssl);
  } catch (err) {
    reject((err as Error).message);
  }
  const input = raw as Record<string, unknown>;
  const rawLists = Object.fromEntries(KINDS.map((k) => [k, (input[k] ?? []) as unknown[]])) as Record<RegionalKind, unknown[]>;
  return { checked: { config, routes, upstreams }, raw: rawLists, top: topKey(config), served, patterns, globals };
}

/** Checks and compiles without creating pools: the whole config, every time. */
export function dryRun(raw: unknown, registry: PluginRegistry, region: string | undefined): CheckedConfig {
  return fullCheck(raw, registry, region).checked;
}

/**
 * The primary's dry run, by change: when a config differs from the last one it passed only in
 * some routes (same ids at the same positions, every other resource the same object, as the
 * etcd source hands them over), only those routes are checked: schema, references, plugin
 * configs and their patterns against the others'. With one route of 10,000 changing ten
 * times a second this keeps the primary from taking milliseconds of the cores the workers
 * serve on. The result is the one a whole check gives; anything else is checked whole.
 */
export class ConfigChecker {
  private last: CheckState | undefined;

  constructor(private readonly registry: PluginRegistry, private readonly region: string | undefined) {}

  check(raw: unknown): CheckedConfig {
    const state = (this.last && this.byChange(raw, this.last)) ?? fullCheck(raw, this.registry, this.region);
    this.last = state;
    return state.checked;
  }

  /** Checked by its changed routes, or undefined when the config changed otherwise (or too much). */
  private byChange(raw: unknown, last: CheckState): CheckState | undefined {
    const top = checkTop(raw);
    if (topKey(top) !== last.top) return undefined;
    const input = raw as Record<string, unknown>;
    for (const kind of KINDS) {
      if (kind !== 'routes' && !sameItems(input[kind] ?? [], last.raw[kind])) return undefined;
    }
    const rawRoutes = input.routes ?? [];
    const before = last.raw.routes;
    if (!Array.isArray(rawRoutes) || rawRoutes.length !== before.length) return undefined;
    const changed: number[] = [];
    for (let i = 0; i < rawRoutes.length; i++) {
      if (rawRoutes[i] === before[i]) continue;
      // Beyond a quarter the whole check costs about the same (and the worker rebuilds).
      if (changed.length >= rawRoutes.length / 4) return undefined;
      changed.push(i);
    }
    const oldRoutes = last.checked.config.routes;
    const routes = oldRoutes.slice();
    const nextCache = new Map<string, unknown>();
    for (const i of changed) {
      const route = checkItem('routes', rawRoutes[i], i, nextCache) as Route;
      // Another id here could collide with one elsewhere: that is for the whole check.
      if (route.id !== (oldRoutes[i] as Route).id) return undefined;
      routes[i] = route;
    }
    const served = last.served.slice();
    try {
      for (const i of changed) {
        const now = resolveRoute(routes[i] as Route, last.checked.upstreams, this.region);
        if (now !== undefined) checkRoutePlugins(this.registry, last.globals, now);
        const before = served[i];
        // All old patterns out before any new one goes in: two changed routes may trade paths.
        if (before !== undefined) last.patterns.remove(before.route);
        served[i] = now;
      }
      for (const i of changed) {
        const now = served[i];
        const conflict = now && last.patterns.add(now.route);
        if (conflict !== undefined) reject(conflict);
      }
    } catch (err) {
      // The pattern index may hold part of the change: the next config is checked whole.
      this.last = undefined;
      throw err;
    }
    const config = { ...last.checked.config, ...top, routes } as GatewayConfig;
    for (const kind of KINDS) if (kind !== 'routes') (config as Record<string, unknown>)[kind] = last.checked.config[kind];
    const checked = { config, routes: served.filter((r) => r !== undefined), upstreams: last.checked.upstreams };
    return { ...last, checked, raw: { ...last.raw, routes: rawRoutes }, served };
  }
}

function sameItems(a: unknown, b: readonly unknown[]): boolean {
  if (!Array.isArray(a) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Each consumer's plugin entries, checked at config time so a bad one rejects the config whole
 * (reason in /status) rather than failing its requests: an auth plugin's entry is a credential
 * (credentialSchema), any other entry a plugin config merged into the chain after auth.
 */
export function checkConsumers(registry: PluginRegistry, consumers: readonly Consumer[]): void {
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
export function hasPlugins(map: Readonly<Record<string, unknown>> | undefined): boolean {
  if (map === undefined) return false;
  for (const _ in map) return true;
  return false;
}

export function compileChain(registry: PluginRegistry, globals: Array<Record<string, unknown>>, upstream: Upstream | undefined, route: Route): CompiledChain {
  try {
    return registry.compile({ global: globals, upstream: upstream?.plugins, route: route.plugins }, `route ${route.id}`);
  } catch (err) {
    if (err instanceof MeridianError) reject(err.message);
    throw err;
  }
}
