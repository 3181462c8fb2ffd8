import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { METRICS } from '../src/core/metric-names.js';

/** The controller's metrics, one registry per controller (tests run several in one process). */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly purges = new Counter({ name: METRICS.purgeFanout, help: 'purge fan-outs by result (ok: every node acked)', labelNames: ['result', 'trigger'] as const, registers: [this.registry] });
  readonly purgeSeconds = new Histogram({ name: METRICS.purgeFanoutDuration, help: 'purge fan-out time until the last ack', labelNames: ['trigger'] as const, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry] });
  readonly watchToAckSeconds = new Histogram({ name: 'meridian_controller_consul_change_to_ack_seconds', help: 'Consul change seen by a blocking query until every gateway acked the purge', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry] });
  readonly consulChanges = new Counter({ name: 'meridian_controller_consul_changes_total', help: 'service health changes seen by the watches', labelNames: ['datacenter'] as const, registers: [this.registry] });
  readonly consulIndexResets = new Counter({ name: 'meridian_controller_consul_index_resets_total', help: 'blocking-query index went backwards and was reset', labelNames: ['datacenter'] as const, registers: [this.registry] });
  readonly regionLag = new Gauge({ name: METRICS.regionLag, help: 'central revisions a region is behind', labelNames: ['region'] as const, registers: [this.registry] });
  readonly reconcileRuns = new Counter({ name: 'meridian_controller_reconcile_total', help: 'regional reconcile runs by result', labelNames: ['region', 'result'] as const, registers: [this.registry] });
  readonly leader = new Gauge({ name: 'meridian_controller_leader', help: '1 while this replica is the leader', registers: [this.registry] });
  readonly api = new Counter({ name: 'meridian_controller_api_requests_total', help: 'admin API requests', labelNames: ['method', 'endpoint', 'status'] as const, registers: [this.registry] });
  readonly deployEvents = new Counter({ name: 'meridian_controller_deploy_events_total', help: 'deployment transitions', labelNames: ['event'] as const, registers: [this.registry] });
}
