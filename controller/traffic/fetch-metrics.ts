import { boundedGet } from '../../src/core/bounded-get.js';

/** Largest /metrics body the controller reads from a node (thousands of routes are megabytes). */
export const METRICS_BODY_MAX = 16 * 1024 * 1024;

export interface FetchMetricsOptions {
  /** Deadline of the whole scrape: connect, headers and body. */
  timeoutMs: number;
  /** Largest body read; a larger one (or an endless one) fails the scrape. */
  maxBytes?: number;
  /** The gateways' admin token (`Authorization: Bearer`), when their admin listener asks for one. */
  token?: string;
}

/**
 * A node's /metrics text, read within `timeoutMs` and at most `maxBytes` (a node is not
 * trusted to answer a bounded body). Throws on a non-200 answer, a body over the cap (the
 * connection is dropped as soon as it is passed), or the deadline.
 */
export async function fetchNodeMetrics(admin: string, opts: FetchMetricsOptions): Promise<string> {
  const max = opts.maxBytes ?? METRICS_BODY_MAX;
  const body = await boundedGet(new URL('/metrics', admin), {
    timeoutMs: opts.timeoutMs,
    maxBytes: max,
    tooLargeMessage: `/metrics larger than ${max} bytes`,
    headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
  });
  return body.toString('utf8');
}
