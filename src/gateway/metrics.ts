import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import { METRICS } from '../core/metric-names.js';
import { LocalCounter, LocalHistogram, registerLocal, type CounterSeries, type HistogramSeries } from '../core/local-metrics.js';
import { NONE } from '../proxy/types.js';

// The `none` label is the data path's (src/proxy/types.ts): one constant for both.
export { NONE };

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Pre-resolved series of one route: the hot path does no label hashing. */
export class RouteMetrics {
  private readonly byUpstreamCode = new Map<string, Map<number, CounterSeries>>();
  // Created on the first request: 10,000 routes that mostly see no traffic must not each
  // carry a histogram in every worker.
  private duration: HistogramSeries | undefined;

  constructor(private readonly m: GatewayMetrics, readonly route: string) {}

  requests(upstream: string, code: number): CounterSeries {
    let byCode = this.byUpstreamCode.get(upstream);
    if (!byCode) {
      byCode = new Map();
      this.byUpstreamCode.set(upstream, byCode);
    }
    let s = byCode.get(code);
    if (!s) {
      s = this.m.httpRequests.series_({ route: this.route, upstream, code: String(code) });
      byCode.set(code, s);
    }
    return s;
  }

  /** Records one finished request. */
  observe(upstream: string, code: number, seconds: number): void {
    this.requests(upstream, code).value++;
    (this.duration ??= this.m.httpDuration.series_({ route: this.route })).observe(seconds);
  }
}

/**
 * The worker's metrics, in a registry of its own that prom-client's AggregatorRegistry in the
 * primary collects over IPC and sums (the revision gauge takes the minimum: the oldest
 * config any worker still serves).
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new LocalCounter(METRICS.httpRequests, 'requests answered, by route, upstream and status code');
  readonly httpDuration = new LocalHistogram(METRICS.httpDuration, 'request duration seen by the gateway, by route', BUCKETS);
  readonly upstreamDuration = new LocalHistogram(METRICS.upstreamDuration, 'upstream response time (until the whole response), by upstream', BUCKETS);
  readonly upstreamNodes: Gauge<'upstream' | 'node' | 'state'>;
  readonly configRevision: Gauge;
  private readonly routes = new Map<string, RouteMetrics>();
  private readonly upstreams = new Map<string, HistogramSeries>();
  readonly noRoute: RouteMetrics;

  constructor() {
    const registers = [this.registry];
    registerLocal(this.registry, this.httpRequests, this.httpDuration, this.upstreamDuration);
    this.upstreamNodes = new Gauge({ name: METRICS.upstreamNodes, help: 'upstream nodes by passive health state (summed over workers)', labelNames: ['upstream', 'node', 'state'], registers });
    this.configRevision = new Gauge({ name: METRICS.configRevision, help: 'central revision of the config served (min over workers)', registers, aggregator: 'min' });
    this.noRoute = new RouteMetrics(this, NONE);
  }

  /** Workers answer the primary's collection requests with this registry. */
  static enableClusterCollection(...registries: Registry[]): void {
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries(registries);
  }

  route(id: string): RouteMetrics {
    let r = this.routes.get(id);
    if (!r) {
      r = new RouteMetrics(this, id);
      this.routes.set(id, r);
    }
    return r;
  }

  upstream(id: string): HistogramSeries {
    let u = this.upstreams.get(id);
    if (!u) {
      u = this.upstreamDuration.series_({ upstream: id });
      this.upstreams.set(id, u);
    }
    return u;
  }

  /** Drops series of routes and upstreams gone from the config, so churn cannot grow them. */
  retain(routes: ReadonlySet<string>, upstreams: ReadonlySet<string>): void {
    let routesGone = false;
    for (const id of this.routes.keys()) {
      if (routes.has(id) || id === NONE) continue;
      this.routes.delete(id);
      routesGone = true;
    }
    if (routesGone) {
      const keep = (l: Readonly<Record<string, string>>) => l.route === NONE || routes.has(l.route as string);
      this.httpDuration.removeWhere((l) => !keep(l));
      this.httpRequests.removeWhere((l) => !keep(l));
    }
    for (const id of this.upstreams.keys()) {
      if (upstreams.has(id)) continue;
      this.upstreams.delete(id);
      this.upstreamDuration.removeWhere((l) => l.upstream === id);
    }
  }
}
