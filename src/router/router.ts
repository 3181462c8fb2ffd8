import FindMyWay from 'find-my-way';
import { compileVars, RequestFacts, type VarsMatcher } from './vars.js';
import type { RouteVar } from '../core/model/index.js';

/** What the router needs to know about a route; `value` is whatever the caller attaches. */
export interface RouteSpec<T> {
  id: string;
  hosts?: readonly string[] | undefined;
  paths: readonly string[];
  methods?: readonly string[] | undefined;
  vars?: readonly RouteVar[] | undefined;
  priority: number;
  value: T;
}

export interface RouteMatch<T> {
  value: T;
  params: Record<string, string | undefined>;
}

/** A route registered on one path pattern. */
interface Candidate<T> {
  value: T;
  priority: number;
  order: number;
  vars: VarsMatcher | undefined;
}

interface Found<T> {
  candidate: Candidate<T>;
  params: Record<string, string | undefined>;
}

type FmwInstance = ReturnType<typeof FindMyWay>;
const NOOP = (): void => undefined;
const NO_QUERY = Object.freeze({});
const NO_PARAMS: Record<string, string | undefined> = Object.freeze({}) as Record<string, string | undefined>;
// Each table is searched under one method: find-my-way's GET tree has a fast field of its
// own, and methods are separated by giving each method its own tables instead.
const TREE_METHOD = 'GET';

function isStatic(pattern: string): boolean {
  return !pattern.includes(':') && !pattern.includes('*');
}

/** First path segment of a pattern when it is static, else '' (the catch-all shard). */
function shardOf(pattern: string): string {
  const end = pattern.indexOf('/', 1);
  const seg = end === -1 ? pattern.slice(1) : pattern.slice(1, end);
  return seg.includes(':') || seg.includes('*') ? '' : seg;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function pickFirst<T>(list: readonly Candidate<T>[], facts: () => RequestFacts): Candidate<T> | undefined {
  for (let i = 0; i < list.length; i++) {
    const c = list[i] as Candidate<T>;
    if (c.vars === undefined || c.vars(facts())) return c;
  }
  return undefined;
}

/**
 * Routes of one shard: fully static patterns in a Map (O(1), free to build), the others in a
 * find-my-way tree. Static wins over parametric, as in find-my-way itself.
 *
 * The tree is compiled on the shard's first lookup, not at build: find-my-way compiles a
 * function per tree node (new Function), tens of microseconds per route, which would make a
 * 10,000-route build take a second. Deferred, a build is a few Map inserts and a cold shard
 * costs its first request microseconds (shards are small: one first path segment each).
 * Immutable once built, so an unchanged shard is shared by successive generations, warm.
 */
class PathTable<T> {
  private readonly statics = new Map<string, Candidate<T>[]>();
  private readonly dynamic = new Map<string, Candidate<T>[]>();
  private fmw: FmwInstance | undefined;
  private compiled = false;
  maxPriority = -Infinity;

  add(path: string, candidate: Candidate<T>): void {
    const target = isStatic(path) ? this.statics : this.dynamic;
    let list = target.get(path);
    if (!list) {
      list = [];
      target.set(path, list);
    }
    list.push(candidate);
    if (candidate.priority > this.maxPriority) this.maxPriority = candidate.priority;
  }

  seal(): void {
    const byPriority = (a: Candidate<T>, b: Candidate<T>) => b.priority - a.priority || a.order - b.order;
    for (const list of this.statics.values()) list.sort(byPriority);
    for (const list of this.dynamic.values()) list.sort(byPriority);
    this.compiled = this.dynamic.size === 0;
  }

  /** Builds the find-my-way tree now (validation, warm-up); find() does it on first use. */
  compile(): void {
    if (this.compiled) return;
    this.compiled = true;
    const fmw = FindMyWay({ maxParamLength: 1000, querystringParser: () => NO_QUERY, caseSensitive: true });
    for (const [path, list] of this.dynamic) {
      try {
        fmw.on(TREE_METHOD, path, NOOP, list);
      } catch {
        // Config checks refuse such patterns (patternError, patternConflict); should one get
        // through, its routes do not match: a request must never fail on a lazily built tree.
      }
    }
    this.fmw = fmw;
  }

  find(path: string, facts: () => RequestFacts): Found<T> | undefined {
    if (this.statics.size > 0) {
      const list = this.statics.get(path) ?? (path.includes('%') ? this.statics.get(safeDecode(path)) : undefined);
      if (list !== undefined) {
        const c = pickFirst(list, facts);
        if (c) return { candidate: c, params: NO_PARAMS };
      }
    }
    if (!this.compiled) this.compile();
    if (this.fmw === undefined) return undefined;
    const found = this.fmw.find(TREE_METHOD, path);
    if (found === null) return undefined;
    const c = pickFirst(found.store as Candidate<T>[], facts);
    return c ? { candidate: c, params: found.params } : undefined;
  }
}

const PLAIN_PATTERN = /^(?:\/(?:[\w.~!$&'+,;=@%-]+|:\w+))*(?:\/\*?)?$/;

/**
 * Why find-my-way refuses a path pattern, or undefined. Trees are built lazily, on a shard's
 * first request, so a bad pattern must be refused with the config, not found by a request.
 */
export function patternError(pattern: string): string | undefined {
  // The usual shapes (literal segments, `:name` segments, a final `/*`) are known good; only
  // the rest pays for a find-my-way registration (tens of µs: seconds at 100,000 routes).
  if (isStatic(pattern)) return undefined;
  const names = paramNameError(pattern);
  if (names !== undefined) return names;
  if (PLAIN_PATTERN.test(pattern)) return undefined;
  try {
    FindMyWay({ maxParamLength: 1000, caseSensitive: true }).on(TREE_METHOD, pattern, NOOP);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * find-my-way accepts `/a/:/b` (a parameter named '') and `/u/:id/:id` (the second value
 * overwrites the first): both lose a value silently, so they are refused with the config.
 */
function paramNameError(pattern: string): string | undefined {
  const seen = new Set<string>();
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '(') {
      // A parameter's regex: skip it (it may hold ':').
      for (let depth = 0; i < pattern.length; i++) {
        if (pattern[i] === '\\') i++;
        else if (pattern[i] === '(') depth++;
        else if (pattern[i] === ')' && --depth === 0) break;
      }
      continue;
    }
    if (c !== ':') continue;
    if (pattern[i + 1] === ':') {
      i++; // '::' is a literal colon
      continue;
    }
    let end = i + 1;
    while (end < pattern.length && !'/-.(:'.includes(pattern[end] as string)) end++;
    const name = pattern.slice(i + 1, end);
    if (name === '') return `empty parameter name at position ${i}`;
    if (seen.has(name)) return `parameter :${name} appears twice`;
    seen.add(name);
    i = end - 1;
  }
  return undefined;
}

/**
 * The pattern as find-my-way keys it: parameter names do not count, so `/a/:id` and `/a/:name`
 * are one pattern (two routes registering both would make its tree fail). Static: itself.
 */
export function canonicalPattern(pattern: string): string {
  // '::' is an escaped literal colon, kept as it is.
  return isStatic(pattern) ? pattern : pattern.replace(/::|:[^/\-.(:]*/g, (m) => (m === '::' ? m : ':'));
}

type PatternRoute = Pick<RouteSpec<unknown>, 'id' | 'hosts' | 'methods' | 'paths'>;

/** The keys find-my-way would file a route's parameterised patterns under (host scope, method, canonical pattern). */
function* patternKeys(r: PatternRoute): Generator<{ key: string; path: string }> {
  for (const path of r.paths) {
    // Without parameters a pattern is its own canonical form: nothing to conflict with.
    if (!path.includes(':')) continue;
    const canonical = canonicalPattern(path);
    for (const host of r.hosts && r.hosts.length > 0 ? r.hosts : ['']) {
      for (const method of r.methods && r.methods.length > 0 ? r.methods : ['']) yield { key: `${host.toLowerCase()}\n${method}\n${canonical}`, path };
    }
  }
}

/**
 * Routes' parameterised patterns by the key find-my-way files them under. Two routes whose
 * patterns differ only in parameter names, in one host scope and method, cannot share a tree:
 * `add` names such a conflict. Routes can be removed again, so a change of one route among
 * 10,000 is checked against the others without going through all of them.
 */
export class PatternIndex {
  /** Key -> the one path written for it and how often each route registered it. */
  private readonly keys = new Map<string, { path: string; ids: Map<string, number> }>();

  /** Adds the route's patterns; on a conflict returns the reason (the index is then partly changed: rebuild it). */
  add(r: PatternRoute): string | undefined {
    for (const { key, path } of patternKeys(r)) {
      const entry = this.keys.get(key);
      if (entry === undefined) this.keys.set(key, { path, ids: new Map([[r.id, 1]]) });
      else if (entry.path !== path) {
        const other = entry.ids.keys().next().value as string;
        return `route ${r.id}: path ${path} is route ${other}'s ${entry.path} with other parameter names (give both the same names)`;
      } else entry.ids.set(r.id, (entry.ids.get(r.id) ?? 0) + 1);
    }
    return undefined;
  }

  /** Removes what `add` registered for this route (the same object or an equal one). */
  remove(r: PatternRoute): void {
    for (const { key } of patternKeys(r)) {
      const entry = this.keys.get(key);
      const n = entry?.ids.get(r.id);
      if (entry === undefined || n === undefined) continue;
      if (n > 1) entry.ids.set(r.id, n - 1);
      else if (entry.ids.delete(r.id) && entry.ids.size === 0) this.keys.delete(key);
    }
  }
}

/** The first pattern conflict among these routes (see PatternIndex), or undefined. */
export function patternConflict(routes: readonly PatternRoute[]): string | undefined {
  const index = new PatternIndex();
  for (const r of routes) {
    const conflict = index.add(r);
    if (conflict !== undefined) return conflict;
  }
  return undefined;
}

/** Tables of one host scope and method: per first path segment, plus the catch-all shard. */
class ShardedTable<T> {
  /** Shards by first path segment, shared between generations, never changed once shared. */
  private base = new Map<string, PathTable<T>>();
  /**
   * Shards changed since `base` was built (null: removed). A patched generation copies this
   * small map, not the 10,000 entries of `base`; it is folded into a new base when it grows.
   */
  private overlay: Map<string, PathTable<T> | null> | undefined;
  catchAll: PathTable<T> | undefined;
  /** An upper bound of the priorities held (searches skip tables that cannot win); exact after a full build. */
  maxPriority = -Infinity;

  set(shard: string, table: PathTable<T>): void {
    if (shard === '') this.catchAll = table;
    else if (this.overlay !== undefined) this.overlay.set(shard, table);
    else this.base.set(shard, table);
    if (table.maxPriority > this.maxPriority) this.maxPriority = table.maxPriority;
  }

  remove(shard: string): void {
    if (shard === '') this.catchAll = undefined;
    else (this.overlay ??= new Map()).set(shard, null);
  }

  /** A copy to patch: shares `base`; later set/remove calls go to its own overlay. */
  copy(): ShardedTable<T> {
    const t = new ShardedTable<T>();
    t.catchAll = this.catchAll;
    t.maxPriority = this.maxPriority;
    if (this.overlay !== undefined && this.overlay.size >= OVERLAY_LIMIT) {
      t.base = new Map(this.base);
      for (const [k, v] of this.overlay) {
        if (v === null) t.base.delete(k);
        else t.base.set(k, v);
      }
      t.overlay = new Map();
    } else {
      t.base = this.base;
      t.overlay = new Map(this.overlay ?? []);
    }
    return t;
  }

  find(path: string, facts: () => RequestFacts): Found<T> | undefined {
    if (this.base.size > 0 || this.overlay !== undefined) {
      const end = path.indexOf('/', 1);
      let seg = end === -1 ? path.slice(1) : path.slice(1, end);
      if (seg.includes('%')) seg = safeDecode(seg);
      let table = this.overlay?.get(seg);
      if (table === undefined) table = this.base.get(seg);
      const m = table?.find(path, facts);
      if (m) return m;
    }
    return this.catchAll?.find(path, facts);
  }
}

/** Patched shards a table carries before they are folded into a new shared base. */
const OVERLAY_LIMIT = 256;

/** Routes of one host scope: those limited to a method, and those for every method. */
class HostScope<T> {
  byMethod = new Map<string, ShardedTable<T>>();
  anyMethod = new ShardedTable<T>();
  maxPriority = -Infinity;

  /** A copy sharing its tables (copied in turn before one is changed). */
  copy(): HostScope<T> {
    const c = new HostScope<T>();
    c.byMethod = new Map(this.byMethod);
    c.anyMethod = this.anyMethod;
    return c;
  }

  recomputePriority(): void {
    let max = this.anyMethod.maxPriority;
    for (const t of this.byMethod.values()) if (t.maxPriority > max) max = t.maxPriority;
    this.maxPriority = max;
  }

  table(method: string | undefined): ShardedTable<T> {
    if (method === undefined) return this.anyMethod;
    let t = this.byMethod.get(method);
    if (!t) {
      t = new ShardedTable<T>();
      this.byMethod.set(method, t);
    }
    return t;
  }
}

export interface RouterStats {
  routes: number;
  exactHosts: number;
  wildcardHosts: number;
  /** Shards built for this generation vs taken over unchanged from the previous one. */
  shardsBuilt: number;
  shardsReused: number;
}

/** A shard's contents before it is built: what decides whether the previous one can be reused. */
interface ShardPlan<T> {
  scope: HostScope<T>;
  method: string | undefined;
  shard: string;
  entries: Array<{ path: string; candidate: Candidate<T> }>;
}

interface ShardRecord<T> {
  entries: ShardPlan<T>['entries'];
  table: PathTable<T>;
}

/**
 * Host + method + path + vars routing over find-my-way. Hosts are scopes: exact hosts, then
 * `*.suffix` wildcards (longest suffix first), then routes for any host. Among matches the
 * highest priority wins; on a tie, the more specific host, then the specific method, wins.
 * Within one path node, routes are tried by priority and the first whose vars hold wins.
 *
 * Immutable once built: a config change builds a new Router and swaps the reference, so a
 * request keeps the router it started with. Given the previous router, shards whose routes
 * are the same values in the same order are taken over as they are, so changing one route
 * among 10,000 rebuilds one shard, not the tree.
 */
export class Router<T> {
  private exact = new Map<string, HostScope<T>>();
  private wildcard = new Map<string, HostScope<T>>();
  private any = new HostScope<T>();
  private readonly hostAware: boolean;
  private records = new Map<string, ShardRecord<T>>();
  private readonly routes: readonly RouteSpec<T>[];
  readonly stats: RouterStats;

  /**
   * `changed`: the positions at which `routes` differ from `previous`'s routes, which must
   * otherwise be the same (same length, same ids at every position). Then only the shards
   * those routes were or are in are rebuilt, the cost of a change independent of the number
   * of routes; the result is the router a full build gives.
   */
  constructor(routes: readonly RouteSpec<T>[], previous?: Router<T>, options: { eager?: boolean } = {}, changed?: readonly number[]) {
    this.routes = routes;
    let built: number;
    if (previous !== undefined && changed !== undefined && previous.routes.length === routes.length) built = this.applyChanges(previous, changed, options.eager === true);
    else built = this.buildAll(previous, options.eager === true);
    this.hostAware = this.exact.size > 0 || this.wildcard.size > 0;
    this.stats = { routes: routes.length, exactHosts: this.exact.size, wildcardHosts: this.wildcard.size, shardsBuilt: built, shardsReused: this.records.size - built };
  }

  private buildAll(previous: Router<T> | undefined, eager: boolean): number {
    const plans = new Map<string, ShardPlan<T>>();
    this.routes.forEach((r, order) => {
      const candidate = candidateOf(r, order);
      for (const pl of placements(r)) {
        let plan = plans.get(pl.key);
        if (!plan) {
          plan = { scope: this.scopeFor(pl.host), method: pl.method, shard: pl.shard, entries: [] };
          plans.set(pl.key, plan);
        }
        plan.entries.push({ path: pl.path, candidate });
      }
    });
    let built = 0;
    for (const [key, plan] of plans) {
      const prev = previous?.records.get(key);
      let table: PathTable<T>;
      if (prev && sameEntries(prev, plan)) table = prev.table;
      else {
        table = pathTable(plan.entries, eager);
        built++;
      }
      this.records.set(key, { entries: plan.entries, table });
      plan.scope.table(plan.method).set(plan.shard, table);
    }
    for (const s of [this.any, ...this.exact.values(), ...this.wildcard.values()]) s.recomputePriority();
    return built;
  }

  /** Copy-on-write from `previous`: scopes, tables and shards on the way to a changed shard are copied, the rest shared. */
  private applyChanges(previous: Router<T>, changed: readonly number[], eager: boolean): number {
    this.exact = new Map(previous.exact);
    this.wildcard = new Map(previous.wildcard);
    this.any = previous.any;
    // Build bookkeeping, not read by lookups: handed on to this router rather than copied
    // (a later full build may still compare against it; each record stays self-consistent).
    this.records = previous.records;
    const changedSet = new Set(changed);
    // Every shard a changed route leaves or enters, with the entries it brings.
    const added = new Map<string, { at: Placement; entries: ShardRecord<T>['entries'] }>();
    const touch = (pl: Placement) => {
      let a = added.get(pl.key);
      if (!a) {
        a = { at: pl, entries: [] };
        added.set(pl.key, a);
      }
      return a;
    };
    for (const i of changed) {
      for (const pl of placements(previous.routes[i] as RouteSpec<T>)) touch(pl);
      const r = this.routes[i] as RouteSpec<T>;
      const candidate = candidateOf(r, i);
      for (const pl of placements(r)) touch(pl).entries.push({ path: pl.path, candidate });
    }
    const owned = new Set<object>();
    const scopes = new Set<HostScope<T>>();
    let built = 0;
    for (const [key, { at, entries: fresh }] of added) {
      const kept = (previous.records.get(key)?.entries ?? []).filter((e) => !changedSet.has(e.candidate.order));
      // Route order decides ties; the sort is stable, so a route's paths keep their order.
      const entries = kept.concat(fresh).sort((a, b) => a.candidate.order - b.candidate.order);
      const scope = this.writableScope(at.host, owned);
      const table = writableTable(scope, at.method, owned);
      if (entries.length === 0) {
        this.records.delete(key);
        table.remove(at.shard);
      } else {
        const t = pathTable(entries, eager);
        this.records.set(key, { entries, table: t });
        table.set(at.shard, t);
        built++;
      }
      scopes.add(scope);
    }
    // Tables keep an upper bound (set() raises it; a removal leaves it high, which only costs a search).
    for (const s of scopes) s.recomputePriority();
    return built;
  }

  /** The scope of a normalised host ('' = any host), created when new. */
  private scopeFor(host: string): HostScope<T> {
    if (host === '') return this.any;
    const wild = host.startsWith('*.');
    const map = wild ? this.wildcard : this.exact;
    const key = wild ? host.slice(2) : host;
    let scope = map.get(key);
    if (!scope) {
      scope = new HostScope<T>();
      map.set(key, scope);
    }
    return scope;
  }

  /** The scope of a host, copied first if it is still shared with the previous router. */
  private writableScope(host: string, owned: Set<object>): HostScope<T> {
    const shared = this.scopeFor(host);
    if (owned.has(shared)) return shared;
    const scope = shared.copy();
    owned.add(scope);
    if (host === '') this.any = scope;
    else if (host.startsWith('*.')) this.wildcard.set(host.slice(2), scope);
    else this.exact.set(host, scope);
    return scope;
  }

  /**
   * `host` is the Host header as received (port and case are dealt with here); `path` is the
   * normalised path without query; `req` and `rawQuery` are read only by `vars` matchers.
   */
  find(method: string, host: string | undefined, path: string, req: ConstructorParameters<typeof RequestFacts>[0], rawQuery: string): RouteMatch<T> | undefined {
    let factsCache: RequestFacts | undefined;
    const facts = (): RequestFacts => (factsCache ??= new RequestFacts(req, rawQuery));
    let best: Found<T> | undefined;
    if (this.hostAware && host) {
      const name = hostName(host);
      const exact = this.exact.get(name);
      if (exact) best = searchScope(exact, method, path, facts, best);
      if (this.wildcard.size > 0) {
        for (let dot = name.indexOf('.'); dot !== -1; dot = name.indexOf('.', dot + 1)) {
          const scope = this.wildcard.get(name.slice(dot + 1));
          if (scope && (!best || scope.maxPriority > best.candidate.priority)) best = searchScope(scope, method, path, facts, best);
        }
      }
    }
    if (!best || this.any.maxPriority > best.candidate.priority) best = searchScope(this.any, method, path, facts, best);
    return best ? { value: best.candidate.value, params: best.params } : undefined;
  }
}

/** Where a route goes: one placement per host scope, method and path. */
interface Placement {
  key: string;
  /** Normalised host ('' = any host, '*.suffix' = wildcard). */
  host: string;
  method: string | undefined;
  shard: string;
  path: string;
}

function placements(r: RouteSpec<unknown>): Placement[] {
  const hosts = !r.hosts || r.hosts.length === 0 ? [''] : r.hosts.map((h) => h.toLowerCase().replace(/\.$/, ''));
  const methods: (string | undefined)[] = r.methods && r.methods.length > 0 ? [...r.methods] : [undefined];
  // HEAD is answered by GET routes, as every HTTP server does.
  if (methods.includes('GET') && !methods.includes('HEAD')) methods.push('HEAD');
  const out: Placement[] = [];
  for (const host of hosts) {
    for (const method of methods) {
      for (const path of r.paths) {
        const shard = shardOf(path);
        out.push({ key: `${host}\n${method ?? ''}\n${shard}`, host, method, shard, path });
      }
    }
  }
  return out;
}

function candidateOf<T>(r: RouteSpec<T>, order: number): Candidate<T> {
  return { value: r.value, priority: r.priority, order, vars: r.vars && r.vars.length > 0 ? compileVars(r.vars) : undefined };
}

function pathTable<T>(entries: ShardRecord<T>['entries'], eager: boolean): PathTable<T> {
  const table = new PathTable<T>();
  for (const e of entries) table.add(e.path, e.candidate);
  table.seal();
  if (eager) table.compile();
  return table;
}

/** The table of a scope and method, copied first if still shared with the previous router. */
function writableTable<T>(scope: HostScope<T>, method: string | undefined, owned: Set<object>): ShardedTable<T> {
  const shared = method === undefined ? scope.anyMethod : scope.byMethod.get(method);
  if (shared !== undefined && owned.has(shared)) return shared;
  const table = shared ? shared.copy() : new ShardedTable<T>();
  owned.add(table);
  if (method === undefined) scope.anyMethod = table;
  else scope.byMethod.set(method, table);
  return table;
}

function sameEntries<T>(prev: ShardRecord<T>, plan: ShardPlan<T>): boolean {
  if (prev.entries.length !== plan.entries.length) return false;
  for (let i = 0; i < prev.entries.length; i++) {
    const a = prev.entries[i] as { path: string; candidate: Candidate<T> };
    const b = plan.entries[i] as { path: string; candidate: Candidate<T> };
    if (a.candidate.value !== b.candidate.value || a.path !== b.path || a.candidate.priority !== b.candidate.priority) return false;
  }
  return true;
}

function searchScope<T>(scope: HostScope<T>, method: string, path: string, facts: () => RequestFacts, best: Found<T> | undefined): Found<T> | undefined {
  const specific = scope.byMethod.get(method);
  if (specific && (!best || specific.maxPriority > best.candidate.priority)) {
    const m = specific.find(path, facts);
    if (m && (!best || m.candidate.priority > best.candidate.priority)) best = m;
  }
  if (!best || scope.anyMethod.maxPriority > best.candidate.priority) {
    const m = scope.anyMethod.find(path, facts);
    if (m && (!best || m.candidate.priority > best.candidate.priority)) best = m;
  }
  return best;
}

/** `Example.COM:8080` -> `example.com`; IPv6 literals keep their brackets. */
export function hostName(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    end = close === -1 ? end : close + 1;
  } else {
    const colon = host.lastIndexOf(':');
    if (colon !== -1) end = colon;
  }
  if (host.charCodeAt(end - 1) === 46 /* . */) end--;
  const name = end === host.length ? host : host.slice(0, end);
  // Avoid the lower-casing copy for the usual, already lower-case host.
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return name.toLowerCase();
  }
  return name;
}
