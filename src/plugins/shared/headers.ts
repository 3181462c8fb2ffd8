import type { GatewayRequest } from '../contract.js';

/** One header value (first of a repeated header), undefined when absent. */
export function header(req: Pick<GatewayRequest, 'headers'>, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** One query parameter of the raw request URL, without allocating a URL per request when absent. */
export function queryParam(req: Pick<GatewayRequest, 'url'>, name: string): string | undefined {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams(url.slice(q + 1)).get(name) ?? undefined;
}
