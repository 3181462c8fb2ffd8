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

/** Routes registered on one path pattern, best first (priority, then config order). */
interface Candidate<T> {
  value: T;
  priority: number;
  order: number;
  vars: VarsMatcher | undefined;
}

type FmwInstance = ReturnType<typeof FindMyWay>;
const NOOP = (): void => undefined;
const NO_QUERY = Object.freeze({});
// Every tree is registered and searched under one method: find-my-way's GET tree has its own
// fast field, and methods are separated by giving each method its own instance instead.
const TREE_METHOD = 'GET';

/** One find-my-way tree and its candidate lists. */
class PathTable<T> {
  private readonly fmw: FmwInstance = FindMyWay({ maxParamLength: 1000, querystringParser: () => NO_QUERY, caseSensitive: true });
  private readonly byPattern = new Map<string, Candidate<T>[]>();
  maxPriority = -Infinity;

  add(path: string, candidate: Candidate<T>): void {
    let list = this.byPattern.get(path);
    if (!list) {
      list = [];
      this.byPattern.set(path, list);
      this.fmw.on(TREE_METHOD, path, NOOP, list);
    }
    list.push(candidate);
    if (candidate.priority > this.maxPriority) this.maxPriority = candidate.priority;
  }

  seal(): void {
    for (const list of this.byPattern.values()) list.sort((a, b) => b.priority - a.priority || a.order - b.order);
  }

  find(path: string, facts: () => RequestFacts): { candidate: Candidate<T>; params: Record<string, string | undefined> } | undefined {
    const found = this.fmw.find(TREE_METHOD, path);
    if (found === null) return undefined;
    const list = found.store as Candidate<T>[];
    for (let i = 0; i < list.length; i++) {
      const c = list[i] as Candidate<T>;
      if (c.vars === undefined || c.vars(facts())) return { candidate: c, params: found.params };
    }
    return undefined;
  }
}

/** Routes of one host scope: those limited to a method, and those for every method. */
class HostScope<T> {
  readonly byMethod = new Map<string, PathTable<T>>();
  readonly anyMethod = new PathTable<T>();
  maxPriority = -Infinity;

  table(method: string | undefined): PathTable<T> {
    if (method === undefined) return this.anyMethod;
    let t = this.byMethod.get(method);
    if (!t) {
      t = new PathTable<T>();
      this.byMethod.set(method, t);
    }
    return t;
  }

  seal(): void {
    this.anyMethod.seal();
    this.maxPriority = this.anyMethod.maxPriority;
    for (const t of this.byMethod.values()) {
      t.seal();
      if (t.maxPriority > this.maxPriority) this.maxPriority = t.maxPriority;
    }
  }
}

export interface RouterStats {
  routes: number;
  exactHosts: number;
  wildcardHosts: number;
}

/**
 * Host + method + path + vars routing over find-my-way. Hosts are scopes: exact hosts, then
 * `*.suffix` wildcards (longest suffix first), then routes for any host. Among matches the
 * highest priority wins; on a tie, the more specific host, then the specific method, wins.
 * Immutable once built: a config change builds a new Router and swaps the reference, so a
 * request keeps the router it started with.
 */
export class Router<T> {
  private readonly exact = new Map<string, HostScope<T>>();
  private readonly wildcard = new Map<string, HostScope<T>>();
  private readonly any = new HostScope<T>();
  private readonly hostAware: boolean;
  readonly stats: RouterStats;

  constructor(routes: readonly RouteSpec<T>[]) {
    let order = 0;
    for (const r of routes) {
      const candidate: Candidate<T> = { value: r.value, priority: r.priority, order: order++, vars: r.vars && r.vars.length > 0 ? compileVars(r.vars) : undefined };
      const scopes: HostScope<T>[] = [];
      if (!r.hosts || r.hosts.length === 0) scopes.push(this.any);
      else for (const h of r.hosts) scopes.push(this.scopeFor(h));
      const methods: (string | undefined)[] = r.methods && r.methods.length > 0 ? [...r.methods] : [undefined];
      for (const scope of scopes) {
        for (const m of methods) {
          const table = scope.table(m);
          for (const p of r.paths) table.add(p, candidate);
          // HEAD is answered by GET routes, as every HTTP server does.
          if (m === 'GET' && !methods.includes('HEAD')) for (const p of r.paths) scope.table('HEAD').add(p, candidate);
        }
      }
    }
    this.any.seal();
    for (const s of this.exact.values()) s.seal();
    for (const s of this.wildcard.values()) s.seal();
    this.hostAware = this.exact.size > 0 || this.wildcard.size > 0;
    this.stats = { routes: routes.length, exactHosts: this.exact.size, wildcardHosts: this.wildcard.size };
  }

  private scopeFor(host: string): HostScope<T> {
    const h = host.toLowerCase().replace(/\.$/, '');
    const wild = h.startsWith('*.');
    const map = wild ? this.wildcard : this.exact;
    const key = wild ? h.slice(2) : h;
    let scope = map.get(key);
    if (!scope) {
      scope = new HostScope<T>();
      map.set(key, scope);
    }
    return scope;
  }

  /**
   * `host` is the Host header as received (port and case are dealt with here); `path` is the
   * normalised path without query; `req` and `rawQuery` are read only by `vars` matchers.
   */
  find(method: string, host: string | undefined, path: string, req: ConstructorParameters<typeof RequestFacts>[0], rawQuery: string): RouteMatch<T> | undefined {
    let factsCache: RequestFacts | undefined;
    const facts = (): RequestFacts => (factsCache ??= new RequestFacts(req, rawQuery));
    let best: { candidate: Candidate<T>; params: Record<string, string | undefined> } | undefined;
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

function searchScope<T>(
  scope: HostScope<T>,
  method: string,
  path: string,
  facts: () => RequestFacts,
  best: { candidate: Candidate<T>; params: Record<string, string | undefined> } | undefined,
): { candidate: Candidate<T>; params: Record<string, string | undefined> } | undefined {
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
