import type { IncomingHttpHeaders } from 'node:http';
import type { RouteVar } from '../core/model/index.js';
import { REGEX_INPUT_MAX, regexError } from '../core/safe-regex.js';

/**
 * The parts of a request that `vars` matchers read. Query and cookies are parsed once, on
 * first use, and only for requests that reach a route with such a matcher.
 */
export class RequestFacts {
  private queryMap: Map<string, string> | undefined;
  private cookieMap: Map<string, string> | undefined;

  constructor(
    /** The request; its header object is only built by Node when a matcher reads it. */
    private readonly req: { readonly headers: IncomingHttpHeaders },
    private readonly rawQuery: string,
  ) {}

  header(name: string): string | undefined {
    const v = this.req.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  }

  query(name: string): string | undefined {
    if (!this.queryMap) {
      this.queryMap = new Map();
      if (this.rawQuery.length > 1) {
        for (const [k, v] of new URLSearchParams(this.rawQuery.slice(1))) if (!this.queryMap.has(k)) this.queryMap.set(k, v);
      }
    }
    return this.queryMap.get(name);
  }

  cookie(name: string): string | undefined {
    if (!this.cookieMap) this.cookieMap = parseCookies(this.header('cookie'));
    return this.cookieMap.get(name);
  }
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    if (!out.has(k)) out.set(k, part.slice(eq + 1).trim());
  }
  return out;
}

export type VarsMatcher = (facts: RequestFacts) => boolean;

/** Compiles `vars` (all must hold) into one predicate, regexes compiled once here. */
export function compileVars(vars: readonly RouteVar[]): VarsMatcher {
  const tests = vars.map(compileOne);
  if (tests.length === 1) return tests[0] as VarsMatcher;
  return (facts) => {
    for (const t of tests) if (!t(facts)) return false;
    return true;
  };
}

function compileOne(v: RouteVar): VarsMatcher {
  const name = v.source === 'header' ? v.name.toLowerCase() : v.name;
  const read: (f: RequestFacts) => string | undefined =
    v.source === 'header' ? (f) => f.header(name) : v.source === 'query' ? (f) => f.query(name) : (f) => f.cookie(name);
  const values = v.value === undefined ? [] : Array.isArray(v.value) ? v.value : [v.value];
  const first = values[0] ?? '';
  switch (v.op ?? 'eq') {
    case 'exists':
      return (f) => read(f) !== undefined;
    case 'ne':
      return (f) => read(f) !== first;
    case 'regex': {
      // Config checks refuse unsafe patterns (regexError); should one get through, it never
      // matches rather than run. A value over REGEX_INPUT_MAX never matches: the work per
      // request stays bounded whatever the client sends.
      if (regexError(first) !== undefined) return () => false;
      const re = new RegExp(first);
      return (f) => {
        const x = read(f);
        return x !== undefined && x.length <= REGEX_INPUT_MAX && re.test(x);
      };
    }
    case 'in': {
      const set = new Set(values);
      return (f) => {
        const x = read(f);
        return x !== undefined && set.has(x);
      };
    }
    default:
      return (f) => read(f) === first;
  }
}
