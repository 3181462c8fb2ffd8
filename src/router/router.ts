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
    for (const [path, list] of this.dynamic) fmw.on(TREE_METHOD, path, NOOP, list);
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

/**
 * The pattern syntax find-my-way accepts, checked without building a tree (trees are built
 * lazily, but a bad pattern must reject the config, not fail a request later).
 */
export function checkPattern(pattern: string): string | undefined {
  if (!pattern.startsWith('/')) return 'must start with /';
  const star = pattern.indexOf('*');
  if (star !== -1 && star !== pattern.length - 1) return 'a wildcard (*) must be the last character';
  const re = /:(:?)([^/\-.(]*)(\()?/g;
  for (let m = re.exec(pattern); m !== null; m = re.exec(pattern)) {
    if (m[1] === ':') continue; // '::' is a literal colon
    if (m[2] === '' && !m[3]) return 'a parameter (:name) needs a name';
  }
  let depth = 0;
  for (const ch of pattern) {
    if (ch === '(') depth++;
    else if (ch === ')' && --depth < 0) return 'unbalanced parentheses';
  }
  if (depth !== 0) return 'unbalanced parentheses';
  return undefined;
}

/** Tables of one host scope and method: per first path segment, plus the catch-all shard. */
class ShardedTable<T> {
  readonly shards = new Map<string, PathTable<T>>();
  catchAll: PathTable<T> | undefined;
  maxPriority = -Infinity;

  set(shard: string, table: PathTable<T>): void {
    if (shard === '') this.catchAll = table;
    else this.shards.set(shard, table);
    if (table.maxPriority > this.maxPriority) this.maxPriority = table.maxPriority;
  }

  find(path: string, facts: () => RequestFacts): Found<T> | undefined {
    if (this.shards.size > 0) {
      const end = path.indexOf('/', 1);
      let seg = end === -1 ? path.slice(1) : path.slice(1, end);
      if (seg.includes('%')) seg = safeDecode(seg);
      const m = this.shards.get(seg)?.find(path, facts);
      if (m) return m;
    }
    return this.catchAll?.find(path, facts);
  }
}

/** Routes of one host scope: those limited to a method, and those for every method. */
class HostScope<T> {
  readonly byMethod = new Map<string, ShardedTable<T>>();
  readonly anyMethod = new ShardedTable<T>();
  maxPriority = -Infinity;

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
  private readonly exact = new Map<string, HostScope<T>>();
  private readonly wildcard = new Map<string, HostScope<T>>();
  private readonly any = new HostScope<T>();
  private readonly hostAware: boolean;
  private readonly records = new Map<string, ShardRecord<T>>();
  readonly stats: RouterStats;

  constructor(routes: readonly RouteSpec<T>[], previous?: Router<T>, options: { eager?: boolean } = {}) {
    const plans = new Map<string, ShardPlan<T>>();
    let order = 0;
    for (const r of routes) {
      const candidate: Candidate<T> = { value: r.value, priority: r.priority, order: order++, vars: r.vars && r.vars.length > 0 ? compileVars(r.vars) : undefined };
      const scopes: Array<[string, HostScope<T>]> = [];
      if (!r.hosts || r.hosts.length === 0) scopes.push(['', this.any]);
      else for (const h of r.hosts) scopes.push(this.scopeFor(h));
      const methods: (string | undefined)[] = r.methods && r.methods.length > 0 ? [...r.methods] : [undefined];
      // HEAD is answered by GET routes, as every HTTP server does.
      if (methods.includes('GET') && !methods.includes('HEAD')) methods.push('HEAD');
      for (const [scopeKey, scope] of scopes) {
        for (const m of methods) {
          for (const p of r.paths) {
            const shard = shardOf(p);
            const key = `${scopeKey}\n${m ?? ''}\n${shard}`;
            let plan = plans.get(key);
            if (!plan) {
              plan = { scope, method: m, shard, entries: [] };
              plans.set(key, plan);
            }
            plan.entries.push({ path: p, candidate });
          }
        }
      }
    }
    let built = 0;
    let reused = 0;
    for (const [key, plan] of plans) {
      const prev = previous?.records.get(key);
      let table: PathTable<T>;
      if (prev && sameEntries(prev, plan)) {
        table = prev.table;
        reused++;
      } else {
        table = new PathTable<T>();
        for (const e of plan.entries) table.add(e.path, e.candidate);
        table.seal();
        if (options.eager) table.compile();
        built++;
      }
      this.records.set(key, { entries: plan.entries, table });
      plan.scope.table(plan.method).set(plan.shard, table);
    }
    for (const s of [this.any, ...this.exact.values(), ...this.wildcard.values()]) {
      s.maxPriority = Math.max(s.anyMethod.maxPriority, ...[...s.byMethod.values()].map((t) => t.maxPriority));
    }
    this.hostAware = this.exact.size > 0 || this.wildcard.size > 0;
    this.stats = { routes: routes.length, exactHosts: this.exact.size, wildcardHosts: this.wildcard.size, shardsBuilt: built, shardsReused: reused };
  }

  private scopeFor(host: string): [string, HostScope<T>] {
    const h = host.toLowerCase().replace(/\.$/, '');
    const wild = h.startsWith('*.');
    const map = wild ? this.wildcard : this.exact;
    const key = wild ? h.slice(2) : h;
    let scope = map.get(key);
    if (!scope) {
      scope = new HostScope<T>();
      map.set(key, scope);
    }
    return [h, scope];
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
