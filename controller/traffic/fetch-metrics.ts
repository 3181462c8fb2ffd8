import { request } from 'undici';

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
  const t = opts.timeoutMs;
  const res = await request(new URL('/metrics', admin), {
    method: 'GET',
    headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
    signal: AbortSignal.timeout(t),
    headersTimeout: t,
    bodyTimeout: t,
  });
  // Dropped unread: undici reports the abort as the body's 'error', which is expected here.
  const drop = (why: string): Error => {
    res.body.on('error', () => undefined).destroy();
    return new Error(why);
  };
  if (res.statusCode !== 200) throw drop(`HTTP ${res.statusCode}`);
  const declared = Number(res.headers['content-length']);
  const tooLarge = (): Error => drop(`/metrics larger than ${max} bytes`);
  if (declared > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) throw tooLarge();
    chunks.push(c);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}
