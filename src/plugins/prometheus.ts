import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Plugin, RequestContext } from './contract.js';
import { LocalCounter, LocalHistogram, registerLocal, type CounterSeries, type HistogramSeries } from '../core/local-metrics.js';
import { pluginMetrics } from './shared/metrics.js';
import { inner } from './shared/nested-map.js';

export const PrometheusConfig = Strict({
  consumer_label: Type.Boolean({ default: true, description: 'label requests with the consumer name (default true)' }),
  max_consumers: Type.Integer({ minimum: 0, default: 100, description: 'distinct consumer label values per worker; later ones are counted as "other" (default 100)' }),
});
export type PrometheusConfig = Static<typeof PrometheusConfig>;

// Plain numbers turned into metrics on scrape, like the gateway's own request metrics:
// prom-client's children hash their label set again on every inc() and observe().
const requests = new LocalCounter('meridian_plugin_requests_total', 'requests by route, upstream, consumer and status (labels are config ids, bounded)');
const latency = new LocalHistogram('meridian_plugin_request_duration_seconds', 'time from the request to the end of the response, by route', [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
registerLocal(pluginMetrics, requests, latency);

const consumersSeen = new Set<string>();
// Series found per request without building a key string (a fresh string is hashed again on
// every lookup): route object -> upstream id -> consumer label -> status, each a config string
// or a number. Bounded like the label values: routes x upstreams x (max_consumers + 2) x codes.
const counters = new WeakMap<object, Map<string, Map<string, Map<number, CounterSeries>>>>();
const histograms = new WeakMap<object, Map<string, HistogramSeries>>();

/** The label value: a config id, or "other" past the cap so a consumer list never explodes a series set. */
function consumerLabel(ctx: RequestContext, cfg: PrometheusConfig): string {
  if (!cfg.consumer_label || !ctx.consumer) return '';
  const name = ctx.consumer.username;
  if (consumersSeen.has(name)) return name;
  if (consumersSeen.size >= cfg.max_consumers) return 'other';
  consumersSeen.add(name);
  return name;
}

/** startedAt may be a performance.now() or a Date.now() reading: an epoch value is far larger. */
function elapsedSeconds(startedAt: number): number {
  const now = startedAt > 1e11 ? Date.now() : performance.now();
  return Math.max(0, now - startedAt) / 1000;
}

function log(ctx: RequestContext, cfg: PrometheusConfig): void {
  const route = ctx.route;
  const upstream = ctx.upstreamId ?? '';
  const status = ctx.status ?? 0;
  const known = status >= 100 && status <= 599 ? status : -1;
  const consumer = consumerLabel(ctx, cfg);
  const byStatus = inner(inner(inner(counters, route), upstream), consumer);
  let c = byStatus.get(known);
  if (c === undefined) {
    c = requests.series_({ route: route.id, upstream, consumer, code: known < 0 ? 'other' : String(known) });
    byStatus.set(known, c);
  }
  c.value++;
  const byRoute = inner(histograms, route);
  let h = byRoute.get(upstream);
  if (h === undefined) {
    h = latency.series_({ route: route.id, upstream });
    byRoute.set(upstream, h);
  }
  h.observe(elapsedSeconds(ctx.startedAt));
}

/**
 * prometheus: request counts and latency per route, upstream and consumer. Served by the
 * gateway from `pluginMetrics` (src/plugins/shared/metrics.ts) with the other plugins' metrics.
 */
export const prometheus: Plugin<PrometheusConfig> = {
  name: 'prometheus',
  version: '1.0.0',
  priority: 500,
  schema: PrometheusConfig,
  phases: { log },
};

export { pluginMetrics };
