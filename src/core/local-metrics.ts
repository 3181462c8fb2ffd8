/**
 * Counters and histograms for the request path, kept as plain numbers and turned into
 * prom-client's metric JSON only when scraped. prom-client's own children re-validate and
 * re-hash their label set on every observe(); three of those per request were measurable.
 * These objects register in a prom-client Registry like any metric (name, help, type,
 * aggregator, get()), so /metrics and the cluster AggregatorRegistry see no difference.
 */

import type { Metric, Registry } from 'prom-client';

type Labels = Readonly<Record<string, string>>;

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

export interface MetricJson {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: MetricValue[];
}

/** One counter series: the hot path does `series.value++`. */
export interface CounterSeries {
  readonly labels: Labels;
  value: number;
}

export class LocalCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, CounterSeries>();

  constructor(readonly name: string, readonly help: string) {}

  /** The series for these labels (created once; keep the reference). */
  series_(labels: Labels): CounterSeries {
    const key = JSON.stringify(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, value: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  removeWhere(pred: (labels: Labels) => boolean): void {
    for (const [k, s] of this.series) if (pred(s.labels)) this.series.delete(k);
  }

  async get(): Promise<MetricJson> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.series.values()].map((s) => ({ labels: { ...s.labels }, value: s.value })) };
  }
}

/** One histogram series: counts per bucket (not cumulative until scraped), sum and count. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly labels: Labels, private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(v: number): void {
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= (b[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1;
        break;
      }
    }
    this.sum += v;
    this.count++;
  }
}

export class LocalHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, HistogramSeries>();

  constructor(readonly name: string, readonly help: string, readonly bounds: readonly number[]) {}

  series_(labels: Labels): HistogramSeries {
    const key = JSON.stringify(labels);
    let s = this.series.get(key);
    if (!s) {
      s = new HistogramSeries(labels, this.bounds);
      this.series.set(key, s);
    }
    return s;
  }

  removeWhere(pred: (labels: Labels) => boolean): void {
    for (const [k, s] of this.series) if (pred(s.labels)) this.series.delete(k);
  }

  async get(): Promise<MetricJson> {
    const values: MetricValue[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i] as number;
        values.push({ labels: { ...s.labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** Adds local metrics to a prom-client registry: they have the shape its collection reads. */
export function registerLocal(registry: Registry, ...metrics: Array<LocalCounter | LocalHistogram>): void {
  for (const m of metrics) registry.registerMetric(m as unknown as Metric);
}
