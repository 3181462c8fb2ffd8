import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import { REGEX_INPUT_MAX, regexError } from '../core/safe-regex.js';
import type { Plugin, RequestContext } from './contract.js';

const HeaderName = Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' });

export const ProxyRewriteConfig = Strict({
  uri: Type.Optional(Type.String({ pattern: '^/', description: 'path sent upstream instead of the client one' })),
  regex_uri: Type.Optional(Type.Tuple([Type.String({ minLength: 1 }), Type.String()], { description: '[pattern, replacement]: path rewritten with $1..$9' })),
  host: Type.Optional(Type.String({ minLength: 1, description: 'Host header sent upstream' })),
  headers: Type.Optional(Strict({
    set: Type.Record(Type.String(), Type.String(), { default: {}, description: 'headers set on the upstream request' }),
    remove: Type.Array(HeaderName, { default: [], description: 'headers removed from the upstream request' }),
  })),
});
export type ProxyRewriteConfig = Static<typeof ProxyRewriteConfig>;

/** The compiled `regex_uri` pattern of a config; null when the pattern is refused (it never runs). */
const regexes = new WeakMap<ProxyRewriteConfig, RegExp | null>();

function rewrite(ctx: RequestContext, cfg: ProxyRewriteConfig): undefined {
  if (cfg.uri) ctx.upstreamPath = cfg.uri;
  else if (cfg.regex_uri) {
    let re = regexes.get(cfg);
    if (re === undefined) {
      // check() refuses unsafe patterns; should one get through, it never runs.
      re = regexError(cfg.regex_uri[0]) === undefined ? new RegExp(cfg.regex_uri[0]) : null;
      regexes.set(cfg, re);
    }
    // As route vars: a path over REGEX_INPUT_MAX does not match (is sent as it is), so the
    // work per request stays bounded whatever the client sends.
    if (re && ctx.upstreamPath.length <= REGEX_INPUT_MAX) ctx.upstreamPath = ctx.upstreamPath.replace(re, cfg.regex_uri[1]);
  }
  if (cfg.host) ctx.upstreamHeaders.host = cfg.host;
  if (cfg.headers) {
    for (const h of cfg.headers.remove) ctx.upstreamHeaders[h] = null;
    Object.assign(ctx.upstreamHeaders, cfg.headers.set);
  }
  return undefined;
}

/** proxy-rewrite: path, Host and headers of the upstream request. */
export const proxyRewrite: Plugin<ProxyRewriteConfig> = {
  name: 'proxy-rewrite',
  version: '1.0.0',
  priority: 1008,
  schema: ProxyRewriteConfig,
  check: (cfg) => {
    if (cfg.uri && cfg.regex_uri) return { field: 'regex_uri', reason: 'cannot be used with uri' };
    if (cfg.regex_uri) {
      // Run on every request path: the patterns that can backtrack super-linearly are refused.
      const error = regexError(cfg.regex_uri[0]);
      if (error !== undefined) return { field: 'regex_uri[0]', reason: `invalid regular expression: ${error}` };
    }
    for (const name of Object.keys(cfg.headers?.set ?? {})) {
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) return { field: `headers.set.${name}`, reason: 'is not a valid header name' };
    }
    return undefined;
  },
  phases: { rewrite },
};
