import { Counter, Gauge, Registry } from 'prom-client';
import { METRICS } from '../src/core/metric-names.js';

/** One registry per server, so several servers in one process (tests) never share counts. */
export class DnsMetrics {
  readonly registry = new Registry();
  readonly queries = new Counter({ name: METRICS.dnsQueries, help: 'DNS queries answered, by query type, rcode and region answered from', labelNames: ['qtype', 'rcode', 'region'] as const, registers: [this.registry] });
  readonly failovers = new Counter({ name: METRICS.dnsFailovers, help: 'answers that failed over (node, cluster, region) or failed open', labelNames: ['level'] as const, registers: [this.registry] });
  readonly revision = new Gauge({ name: METRICS.configRevision, help: 'central etcd revision of the state answered from', registers: [this.registry] });
  readonly etcdUp = new Gauge({ name: 'meridian_dns_etcd_connected', help: '1 while the etcd watch is established', registers: [this.registry] });
  readonly liveProbers = new Gauge({ name: 'meridian_dns_live_probers', help: 'probers with observations in etcd', registers: [this.registry] });
  readonly downNodes = new Gauge({ name: 'meridian_dns_nodes_down', help: 'gateway nodes a majority of their probers see down', registers: [this.registry] });
  readonly malformed = new Counter({ name: 'meridian_dns_malformed_total', help: 'packets dropped or answered FORMERR/NOTIMP', labelNames: ['transport', 'result'] as const, registers: [this.registry] });
}
