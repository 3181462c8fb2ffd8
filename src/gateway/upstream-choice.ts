import type { GatewayRequest } from '../plugins/index.js';
import type { CompiledRoute } from '../proxy/types.js';
import { parseCookies, RequestFacts } from '../router/vars.js';
import type { RuntimeUpstream } from '../upstream/runtime.js';

/**
 * Which upstream serves a request and the key its balancer hashes on: one choice for plain
 * requests and upgrades (WebSocket), so a canary split or a sticky hash holds for both.
 */

/** Picks the upstream for this request: split.match, then split.weight percent, else the route's. */
export function chooseUpstream(route: CompiledRoute, req: GatewayRequest, rawQuery: string): RuntimeUpstream | undefined {
  const split = route.split;
  if (split === undefined) return route.upstream;
  if (split.match !== undefined) {
    // Only split routes with matchers pay for the request facts.
    if (split.match(new RequestFacts(req, rawQuery))) return split.upstream;
  }
  if (split.weight > 0 && Math.random() * 100 < split.weight) return split.upstream;
  return route.upstream;
}

/** The consistent-hash key per the upstream's `hash_on` (`url`: path and query). */
export function hashKeyOf(upstream: RuntimeUpstream, req: GatewayRequest, clientIp: string, url: string): string | undefined {
  const on = upstream.hashOn;
  if (on === undefined) return undefined;
  switch (on.type) {
    case 'header': {
      const v = req.headers[(on.key as string).toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    }
    case 'cookie':
      return parseCookies(req.headers.cookie).get(on.key as string);
    case 'ip':
      return clientIp;
    default:
      return url;
  }
}
