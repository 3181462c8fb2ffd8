import type { NodeRegistration } from '../../src/core/keys.js';
import { METRICS } from '../../src/core/metric-names.js';
import { fetchNodeMetrics } from '../traffic/fetch-metrics.js';

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Samples of one metric from Prometheus text exposition (the gateways' admin /metrics). */
export function parseSamples(text: string, metric: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== metric) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, '$1');
    const value = Number(m[4]);
    if (Number.isFinite(value)) out.push({ labels, value });
  }
  return out;
}

export interface Counts {
  total: number;
  errors: number;
}

/**
 * Requests and 5xx answers (meridian_http_requests_total) of each node, per selector: the
 * samples `select[k]` keeps summed under `k`. A node that cannot be scraped (no answer within
 * `timeoutMs`, not 200, a /metrics body over METRICS_BODY_MAX) is undefined.
 */
export async function scrapeNodeCounts<K extends string>(nodes: NodeRegistration[], token: string, select: Record<K, (s: Sample, n: NodeRegistration) => boolean>, timeoutMs = 1_000): Promise<Array<Record<K, Counts> | undefined>> {
  const keys = Object.keys(select) as K[];
  return Promise.all(nodes.map(async (n) => {
    try {
      const text = await fetchNodeMetrics(n.admin, { token, timeoutMs });
      const out = Object.fromEntries(keys.map((k) => [k, { total: 0, errors: 0 }])) as Record<K, Counts>;
      for (const s of parseSamples(text, METRICS.httpRequests)) {
        for (const k of keys) {
          if (!select[k](s, n)) continue;
          out[k].total += s.value;
          if ((s.labels.code ?? '').startsWith('5')) out[k].errors += s.value;
        }
      }
      return out;
    } catch {
      return undefined;
    }
  }));
}

/**
 * Requests and 5xx answers summed over the given nodes for the samples `select` keeps. A node
 * that cannot be scraped is left out: its counters come back later, and the rate is computed on
 * differences.
 */
export async function scrapeCounts(nodes: NodeRegistration[], token: string, select: (s: Sample, n: NodeRegistration) => boolean, timeoutMs = 1_000): Promise<Counts & { scraped: number }> {
  const ok = (await scrapeNodeCounts(nodes, token, { all: select }, timeoutMs)).filter((r) => r !== undefined).map((r) => r.all);
  return { total: ok.reduce((a, c) => a + c.total, 0), errors: ok.reduce((a, c) => a + c.errors, 0), scraped: ok.length };
}
