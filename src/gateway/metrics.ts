import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { METRICS } from '../core/metric-names.js';

/** Label for requests that matched no route / reached no upstream (bounded cardinality). */
export const NONE = 'none';

type CounterChild = ReturnType<Counter<'route' | 'upstream' | 'code'>['labels']>;
type HistogramChild = ReturnType<Histogram<'route'>['labels']>;

/** Pre-resolved metric children of one route: the hot path does no label hashing. */
export class RouteMetrics {
  private readonly byUpstreamCode = new Map<string, Map<number, CounterChild>>();
  // Created on the first request: 10,000 routes that mostly see no traffic must not each
  // carry a histogram (buckets are per label set) in every worker.
  private duration: HistogramChild | undefined;

  constructor(private readonly m: GatewayMetrics, readonly route: string) {}

  requests(upstream: string, code: number): CounterChild {
    let byCode = this.byUpstreamCode.get(upstream);
    if (!byCode) {
      byCode = new Map();
      this.byUpstreamCode.set(upstream, byCode);
    }
    let child = byCode.get(code);
    if (!child) {
      child = this.m.httpRequests.labels(this.route, upstream, String(code));
      byCode.set(code, child);
    }
    return child;
  }

  /** Records one finished request. */
  observe(upstream: string, code: number, seconds: number): void {
    this.requests(upstream, code).inc();
    (this.duration ??= this.m.httpDuration.labels(this.route)).observe(seconds);
  }
}

/**
 * The worker's metrics, in a registry of its own that prom-client's AggregatorRegistry in the
 * primary collects over IPC and sums (the revision gauge takes the minimum: the oldest
 * config any worker still serves).
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'route' | 'upstream' | 'code'>;
  readonly httpDuration: Histogram<'route'>;
  readonly upstreamDuration: Histogram<'upstream'>;
  readonly upstreamNodes: Gauge<'upstream' | 'node' | 'state'>;
  readonly configRevision: Gauge;
  private readonly routes = new Map<string, RouteMetrics>();
  private readonly upstreams = new Map<string, ReturnType<Histogram<'upstream'>['labels']>>();
  readonly noRoute: RouteMetrics;

  constructor() {
    const registers = [this.registry];
    const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    this.httpRequests = new Counter({ name: METRICS.httpRequests, help: 'requests answered, by route, upstream and status code', labelNames: ['route', 'upstream', 'code'], registers });
    this.httpDuration = new Histogram({ name: METRICS.httpDuration, help: 'request duration seen by the gateway, by route', labelNames: ['route'], buckets, registers });
    this.upstreamDuration = new Histogram({ name: METRICS.upstreamDuration, help: 'upstream response time (until the whole response), by upstream', labelNames: ['upstream'], buckets, registers });
    this.upstreamNodes = new Gauge({ name: METRICS.upstreamNodes, help: 'upstream nodes by passive health state (summed over workers)', labelNames: ['upstream', 'node', 'state'], registers });
    this.configRevision = new Gauge({ name: METRICS.configRevision, help: 'central revision of the config served (min over workers)', registers, aggregator: 'min' });
    this.noRoute = new RouteMetrics(this, NONE);
  }

  /** Workers answer the primary's collection requests with this registry. */
  static enableClusterCollection(registry: Registry): void {
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([registry]);
  }

  route(id: string): RouteMetrics {
    let r = this.routes.get(id);
    if (!r) {
      r = new RouteMetrics(this, id);
      this.routes.set(id, r);
    }
    return r;
  }

  upstream(id: string): ReturnType<Histogram<'upstream'>['labels']> {
    let u = this.upstreams.get(id);
    if (!u) {
      u = this.upstreamDuration.labels(id);
      this.upstreams.set(id, u);
    }
    return u;
  }

  /** Drops series of routes and upstreams gone from the config, so churn cannot grow them. */
  retain(routes: ReadonlySet<string>, upstreams: ReadonlySet<string>): void {
    for (const id of this.routes.keys()) {
      if (routes.has(id)) continue;
      this.routes.delete(id);
      this.httpDuration.remove(id);
      removeMatching(this.httpRequests, { route: id });
    }
    for (const id of this.upstreams.keys()) {
      if (upstreams.has(id)) continue;
      this.upstreams.delete(id);
      this.upstreamDuration.remove(id);
    }
  }
}

function removeMatching(counter: Counter<'route' | 'upstream' | 'code'>, match: { route: string }): void {
  // prom-client has no remove-by-partial-labels; read the series and remove the matching ones.
  const hashMap = (counter as unknown as { hashMap: Record<string, { labels: Record<string, string> }> }).hashMap;
  for (const entry of Object.values(hashMap)) {
    if (entry.labels.route === match.route) counter.remove(entry.labels);
  }
}
