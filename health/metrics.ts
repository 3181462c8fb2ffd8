import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { METRICS } from '../src/core/metric-names.js';

/** One registry per prober, so several probers in one process (tests) never share counts. */
export class ProberMetrics {
  readonly registry = new Registry();
  readonly results = new Counter({ name: METRICS.probeResults, help: 'probe results per gateway node (up: HTTP and TCP both passed)', labelNames: ['node', 'result'] as const, registers: [this.registry] });
  readonly duration = new Histogram({ name: METRICS.probeDuration, help: 'HTTP /healthz probe latency', labelNames: ['node'] as const, buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers: [this.registry] });
  readonly transitions = new Counter({ name: 'meridian_probe_transitions_total', help: 'node state changes after rise/fall', labelNames: ['node', 'to'] as const, registers: [this.registry] });
  readonly targets = new Gauge({ name: 'meridian_probe_targets', help: 'gateway nodes probed', registers: [this.registry] });
  readonly etcdUp = new Gauge({ name: 'meridian_probe_etcd_connected', help: '1 while observations are being written under a live lease', registers: [this.registry] });
}
