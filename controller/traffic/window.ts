import { METRICS } from '../../src/core/metric-names.js';
import type { PromSample } from './prom-text.js';

/** Rates over one scrape interval. p99 in milliseconds, null when no request finished. */
export interface TrafficPoint {
  rps: number;
  r4xx: number;
  r5xx: number;
  p99_ms: number | null;
}

/** Aligned columns over the window: entry i of each array belongs to times[i]; null: no data. */
export interface TrafficSeries {
  rps: (number | null)[];
  r4xx: (number | null)[];
  r5xx: (number | null)[];
  p99_ms: (number | null)[];
}

export interface TrafficRow {
  /** Region name, or route id. */
  name: string;
  /** The newest sample (zeros when the row saw no traffic then). */
  current: TrafficPoint;
  series: TrafficSeries;
}

export interface NodeScrape {
  region: string;
  /** region/cluster/node */
  node: string;
  samples: PromSample[];
}

interface Sample {
  /** Unix ms of the scrape round. */
  t: number;
  /** False for a round in which no node had an earlier scrape to compare with: no rates at all. */
  rated: boolean;
  regions: Map<string, TrafficPoint>;
  routes: Map<string, TrafficPoint>;
}

/** Counters of one node as last scraped: the base of the next round's deltas. */
interface NodeBase {
  t: number;
  values: Map<string, number>;
}

/** What one node (or a sum of nodes) did over an interval, before it becomes rates. */
class Accum {
  rps = 0;
  r4xx = 0;
  r5xx = 0;
  /** Cumulative bucket count deltas by upper bound (seconds; Infinity for +Inf). */
  readonly buckets = new Map<number, number>();

  point(): TrafficPoint {
    return { rps: round(this.rps), r4xx: round(this.r4xx), r5xx: round(this.r5xx), p99_ms: quantileMs(this.buckets, 0.99) };
  }
}

const round = (n: number): number => Math.round(n * 1000) / 1000;

/**
 * The q-quantile from cumulative bucket counts, interpolated inside the bucket it falls in as
 * Prometheus's histogram_quantile does; in the +Inf bucket it is the largest finite bound.
 */
export function quantileMs(buckets: ReadonlyMap<number, number>, q: number): number | null {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? (bounds.length ? (buckets.get(bounds[bounds.length - 1] as number) as number) : 0);
  if (total <= 0) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const le of bounds) {
    const count = buckets.get(le) as number;
    if (count >= rank) {
      if (le === Infinity) return round(prevBound * 1000);
      const inBucket = count - prevCount;
      const frac = inBucket > 0 ? (rank - prevCount) / inBucket : 1;
      return round((prevBound + (le - prevBound) * frac) * 1000);
    }
    prevBound = le;
    prevCount = count;
  }
  return round(prevBound * 1000);
}

const REQUESTS = METRICS.httpRequests;
const BUCKET = `${METRICS.httpDuration}_bucket`;
/** The metric names a scrape keeps. */
export const WANTED: ReadonlySet<string> = new Set([REQUESTS, BUCKET]);

function seriesKey(s: PromSample): string {
  return s.name === REQUESTS ? `r\0${s.labels.route}\0${s.labels.upstream}\0${s.labels.code}` : `b\0${s.labels.route}\0${s.labels.le}`;
}

/**
 * The last `windowMs` of traffic, one sample per scrape round, from counter deltas between a
 * node's consecutive scrapes (a counter that went down is a restarted node: its new value is the
 * delta). Memory is bounded: at most windowMs/intervalMs samples, each with every region and at
 * most `maxRoutes` routes (the busiest of that round).
 */
export class TrafficWindow {
  private readonly samples: Sample[] = [];
  private readonly bases = new Map<string, NodeBase>();

  constructor(private readonly opts: { windowMs: number; intervalMs: number; maxRoutes: number }) {}

  /** One scrape round at `t`: the nodes that answered. Nodes not seen in this round are forgotten. */
  add(t: number, scrapes: NodeScrape[], regions: readonly string[]): void {
    const byRegion = new Map<string, Accum>(regions.map((r) => [r, new Accum()]));
    const byRoute = new Map<string, Accum>();
    const seen = new Set<string>();
    // A region whose nodes were all scraped for the first time has no rate yet (not a zero).
    const unrated = new Set<string>();
    const rated = new Set<string>();
    for (const s of scrapes) {
      seen.add(s.node);
      const values = new Map(s.samples.map((x) => [seriesKey(x), x.value]));
      const base = this.bases.get(s.node);
      this.bases.set(s.node, { t, values });
      if (!base || t <= base.t) {
        unrated.add(s.region);
        continue;
      }
      rated.add(s.region);
      const dt = (t - base.t) / 1000;
      let region = byRegion.get(s.region);
      if (!region) byRegion.set(s.region, (region = new Accum()));
      for (const x of s.samples) {
        const before = base.values.get(seriesKey(x)) ?? 0;
        const delta = x.value >= before ? x.value - before : x.value;
        // A bucket that saw nothing still bounds the next one (p99 interpolates from it).
        if (delta === 0 && x.name === REQUESTS) continue;
        const route = x.labels.route ?? '';
        let r = byRoute.get(route);
        if (!r) byRoute.set(route, (r = new Accum()));
        if (x.name === REQUESTS) {
          const code = Number(x.labels.code);
          for (const a of [region, r]) {
            a.rps += delta / dt;
            if (code >= 400 && code < 500) a.r4xx += delta / dt;
            else if (code >= 500) a.r5xx += delta / dt;
          }
        } else {
          const le = x.labels.le === '+Inf' ? Infinity : Number(x.labels.le);
          if (Number.isNaN(le)) continue;
          for (const a of [region, r]) a.buckets.set(le, (a.buckets.get(le) ?? 0) + delta);
        }
      }
    }
    for (const node of this.bases.keys()) if (!seen.has(node)) this.bases.delete(node);
    for (const r of unrated) if (!rated.has(r)) byRegion.delete(r);
    const busiest = [...byRoute.entries()].filter(([, a]) => a.rps > 0 || (a.buckets.get(Infinity) ?? 0) > 0).sort((a, b) => b[1].rps - a[1].rps).slice(0, this.opts.maxRoutes);
    this.samples.push({
      t,
      rated: rated.size > 0,
      regions: new Map([...byRegion].map(([k, a]) => [k, a.point()])),
      routes: new Map(busiest.map(([k, a]) => [k, a.point()])),
    });
    const oldest = t - this.opts.windowMs;
    const cap = Math.ceil(this.opts.windowMs / this.opts.intervalMs) + 1;
    while (this.samples.length > 0 && ((this.samples[0] as Sample).t < oldest || this.samples.length > cap)) this.samples.shift();
  }

  /** Rates need two rounds: the first only sets each node's base. */
  get samplesKept(): number {
    return this.samples.length;
  }

  clear(): void {
    this.samples.length = 0;
    this.bases.clear();
  }

  /** Every region and every route seen in the window, with its columns over `times`. */
  report(): { times: number[]; regions: TrafficRow[]; routes: TrafficRow[] } {
    // A round without rates still has its time (nulls), so the charts' x axis starts when
    // scraping started.
    const times = this.samples.map((s) => s.t);
    const rows = (pick: (s: Sample) => Map<string, TrafficPoint>, zeroWhenMissing: boolean): TrafficRow[] => {
      const names = new Set(this.samples.flatMap((s) => [...pick(s).keys()]));
      return [...names].map((name) => {
        const series: TrafficSeries = { rps: [], r4xx: [], r5xx: [], p99_ms: [] };
        for (const s of this.samples) {
          const p = pick(s).get(name);
          const zero = zeroWhenMissing && s.rated ? 0 : null;
          series.rps.push(p ? p.rps : zero);
          series.r4xx.push(p ? p.r4xx : zero);
          series.r5xx.push(p ? p.r5xx : zero);
          series.p99_ms.push(p ? p.p99_ms : null);
        }
        const last = this.samples[this.samples.length - 1];
        const current = last ? (pick(last).get(name) ?? { rps: 0, r4xx: 0, r5xx: 0, p99_ms: null }) : { rps: 0, r4xx: 0, r5xx: 0, p99_ms: null };
        return { name, current, series };
      });
    };
    const regions = rows((s) => s.regions, false).sort((a, b) => a.name.localeCompare(b.name));
    const routes = rows((s) => s.routes, true).sort((a, b) => b.current.rps - a.current.rps || a.name.localeCompare(b.name));
    return { times, regions, routes };
  }
}
