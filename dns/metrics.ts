import { Counter, Gauge, Registry } from 'prom-client';
import { METRICS } from '../src/core/metric-names.js';
import type { TcpStats } from './transports.js';

/** One registry per server, so several servers in one process (tests) never share counts. */
export class DnsMetrics {
  readonly registry = new Registry();
  readonly queries = new Counter({ name: METRICS.dnsQueries, help: 'DNS queries answered, by query type, rcode and region answered from', labelNames: ['qtype', 'rcode', 'region'] as const, registers: [this.registry] });
  readonly failovers = new Counter({ name: METRICS.dnsFailovers, help: 'answers that failed over (node, cluster, region) or failed open', labelNames: ['level'] as const, registers: [this.registry] });
  readonly revision = new Gauge({ name: METRICS.configRevision, help: 'central etcd revision of the state answered from', registers: [this.registry] });
  readonly etcdUp = new Gauge({ name: 'meridian_dns_etcd_connected', help: '1 while the etcd watch is established', registers: [this.registry] });
  readonly liveProbers = new Gauge({ name: 'meridian_dns_live_probers', help: 'probers with observations in etcd', registers: [this.registry] });
  readonly downNodes = new Gauge({ name: 'meridian_dns_nodes_down', help: 'gateway nodes a majority of their probers see down', registers: [this.registry] });
  readonly tcpClosed = new Counter({ name: 'meridian_dns_tcp_closed_total', help: 'TCP connections closed or refused by a limit', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly tcpPaused = new Counter({ name: 'meridian_dns_tcp_read_paused_total', help: 'times reading a TCP connection paused because its client did not read its answers', registers: [this.registry] });
  /** Set by the server once its TCP listener exists; read at scrape time only, never on the query path. */
  tcpStats: () => TcpStats = () => ({ connections: 0, writeBuffered: 0, peakWriteBuffered: 0 });
  readonly tcpConnections: Gauge = new Gauge({ name: 'meridian_dns_tcp_connections', help: 'TCP connections open', registers: [this.registry], collect: (): void => this.tcpConnections.set(this.tcpStats().connections) });
  readonly tcpWriteBuffered: Gauge = new Gauge({ name: 'meridian_dns_tcp_write_buffered_bytes', help: 'answer bytes buffered in the server for TCP clients, all connections', registers: [this.registry], collect: (): void => this.tcpWriteBuffered.set(this.tcpStats().writeBuffered) });
  readonly malformed = new Counter({ name: 'meridian_dns_malformed_total', help: 'packets dropped or answered FORMERR/NOTIMP', labelNames: ['transport', 'result'] as const, registers: [this.registry] });
}
