import type { GatewayRequest } from '../contract.js';

/** A request as header() reads it: the raw list when there is one (contexts built in tests may have none). */
export type HeaderSource = Pick<GatewayRequest, 'headers'> & { readonly rawHeaders?: readonly string[] };

/** ASCII case-insensitive equality of a header name with `lower` (lower case, same length). */
function sameName(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function parsed(req: HeaderSource, lower: string): string | undefined {
  const v = req.headers[lower];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * One header value (first of a repeated header), undefined when absent. A header sent once is
 * read from the raw list: `req.headers` is an object the gateway builds on first use, which
 * cost a plugin chain more than the lookup itself. A repeated one is read from `req.headers`,
 * so node:http's rules for repeats (joined, or the first kept) hold as before.
 */
export function header(req: HeaderSource, name: string): string | undefined {
  const lower = name.toLowerCase();
  const raw = req.rawHeaders;
  if (raw === undefined) return parsed(req, lower);
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length !== lower.length || !sameName(n, lower)) continue;
    if (found !== undefined) return parsed(req, lower);
    found = raw[i + 1] as string;
  }
  return found;
}

/** One query parameter of the raw request URL, without allocating a URL per request when absent. */
export function queryParam(req: Pick<GatewayRequest, 'url'>, name: string): string | undefined {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams(url.slice(q + 1)).get(name) ?? undefined;
}
