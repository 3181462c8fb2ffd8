/**
 * `meridian dns`: the authoritative server. Wires the state source (etcd + disk snapshot),
 * the answer pipeline, the UDP/TCP listeners and the admin listener into one lifecycle.
 */
import { isIPv6 } from 'node:net';
import type { AddressInfo } from 'node:net';
import { EtcdStore } from '../src/core/etcd-store.js';
import type { Lifecycle } from '../src/core/lifecycle.js';
import { stopAll } from '../src/core/lifecycle.js';
import { createLogger, type Logger } from '../src/core/logger.js';
import { MeridianError } from '../src/core/errors/index.js';
import type { DnsProgramConfig } from './config.js';
import { DnsMetrics } from './metrics.js';
import { handleQuery, type PipelineEnv } from './pipeline.js';
import { StateSource } from './state-source.js';
import type { Topology } from './topology.js';
import { UdpTransport, TcpTransport, type TcpStats } from './transports.js';
import { AdminServer, splitHostPort } from '../src/core/admin-server.js';
import { zoneSettings } from './zone-data.js';

/** Logs what changed in health terms: the lines an operator reads after a failover. */
function logTransitions(log: Logger, next: Topology, prev: Topology): void {
  const prevDown = new Set(prev.downNodes);
  const nextDown = new Set(next.downNodes);
  for (const k of nextDown) if (!prevDown.has(k)) log.warn({ node: k }, 'node down (majority of its probers)');
  for (const k of prevDown) if (!nextDown.has(k) && prev.clusters.size > 0) log.info({ node: k }, 'node up');
  for (const [id, c] of next.clusters) {
    const was = prev.clusters.get(id);
    if (was && was.in !== c.in) log[c.in ? 'info' : 'warn']({ cluster: id, healthy: c.healthy.length, threshold: c.threshold }, c.in ? 'cluster back in' : 'cluster out');
  }
  for (const [name, r] of next.regions) {
    const was = prev.regions.get(name);
    if (was && was.in !== r.in) log[r.in ? 'info' : 'warn']({ region: name, drained: r.drained }, r.in ? 'region back in' : 'region out');
  }
}

export class DnsServer implements Lifecycle {
  readonly metrics = new DnsMetrics();
  readonly log: Logger;
  private readonly store: EtcdStore;
  private readonly source: StateSource;
  private readonly udp: UdpTransport;
  private readonly tcp: TcpTransport;
  private readonly admin: AdminServer;
  private readonly env: PipelineEnv;
  private started: Lifecycle[] = [];
  private rotation = 0;
  private failOpen = new Set<string>();

  constructor(private readonly config: DnsProgramConfig, log?: Logger) {
    this.log = log ?? createLogger('dns');
    this.store = new EtcdStore({ endpoints: config.etcd.endpoints, prefix: config.etcd.prefix, timeoutMs: config.etcd.timeout_ms });
    this.source = new StateSource({
      store: this.store,
      log: this.log,
      ...(config.snapshot_file ? { snapshotFile: config.snapshot_file } : {}),
      onChange: (next, prev) => this.onTopology(next, prev),
      onEtcd: (up) => this.metrics.etcdUp.set(up ? 1 : 0),
    });
    const settings = zoneSettings(config);
    this.env = {
      topology: () => this.source.current(),
      settings,
      metrics: this.metrics,
      udpSize: config.udp_size,
      nextRotation: () => (this.rotation = (this.rotation + 1) & 0x3fffffff),
      onFailOpen: (name) => {
        // Logged once per name until health comes back, counted on every answer.
        if (this.failOpen.has(name)) return;
        this.failOpen.add(name);
        this.log.error({ name }, 'no healthy gateway node in scope: failing open (answering with every node)');
      },
    };
    const handler = (raw: Buffer, transport: 'udp' | 'tcp', peer: string) => handleQuery(raw, transport, peer, this.env);
    const { host } = splitHostPort(config.listen);
    this.udp = new UdpTransport(isIPv6(host) ? 'udp6' : 'udp4', handler);
    this.tcp = new TcpTransport(handler, {
      maxConnections: config.tcp_max_connections,
      maxPerAddress: config.tcp_max_per_address,
      messageMs: config.tcp_message_ms,
      idleMs: config.tcp_idle_ms,
      writeBufferBytes: config.tcp_write_buffer_bytes,
      writeStallMs: config.tcp_write_stall_ms,
    }, {
      onClose: (reason) => this.metrics.tcpClosed.inc({ reason }),
      onPause: () => this.metrics.tcpPaused.inc(),
    });
    this.metrics.tcpStats = () => this.tcp.stats();
    this.admin = new AdminServer(config.admin, {
      registry: this.metrics.registry,
      health: () => {
        const s = this.source.status();
        // Ready once there is a state to answer from (etcd or the disk snapshot).
        return { ok: s.source !== 'empty', detail: { ...s } };
      },
      status: () => this.status(),
    });
  }

  private onTopology(next: Topology, prev: Topology): void {
    this.metrics.revision.set(next.revision);
    this.metrics.liveProbers.set(next.liveProbers.length);
    this.metrics.downNodes.set(next.downNodes.length);
    logTransitions(this.log, next, prev);
    this.failOpen.clear();
  }

  status(): Record<string, unknown> {
    const t = this.source.current();
    return {
      ...this.source.status(),
      live_probers: t.liveProbers,
      nodes_down: t.downNodes,
      regions: [...t.regions.values()].map((r) => ({
        name: r.name,
        in: r.in,
        drained: r.drained,
        clusters: r.clusters.map((c) => ({ name: c.name, in: c.in, healthy: c.healthy.length, nodes: c.nodes.length, threshold: c.threshold })),
      })),
      vdomains: t.vdomains.size,
      bindings: t.bindings.size,
    };
  }

  /** TCP connections open and the answers buffered for them. */
  tcpStats(): TcpStats {
    return this.tcp.stats();
  }

  /** Bound addresses (tests listen on port 0 for admin). */
  addresses(): { udp: AddressInfo; tcp: AddressInfo; adminPort: number } {
    return { udp: this.udp.address(), tcp: this.tcp.address() as AddressInfo, adminPort: this.admin.port() };
  }

  async start(): Promise<void> {
    const { host, port } = splitHostPort(this.config.listen);
    try {
      // Listeners first: with a disk snapshot, answers flow before etcd is even reached.
      await new Promise<void>((resolve, reject) => {
        this.udp.once('error', reject);
        this.udp.bind({ address: host, port, exclusive: true }, () => {
          this.udp.removeListener('error', reject);
          try {
            // Bursts from many resolvers arrive faster than one event-loop turn drains them:
            // a larger kernel buffer queues them instead of dropping them.
            this.udp.setRecvBufferSize(4 << 20);
            this.udp.setSendBufferSize(4 << 20);
          } catch {
            // capped by net.core.rmem_max; the default still works
          }
          resolve();
        });
      });
      this.started.push({ start: async () => undefined, stop: () => new Promise<void>((r) => this.udp.close(() => r())) });
      await new Promise<void>((resolve, reject) => {
        this.tcp.once('error', reject);
        this.tcp.listen({ host, port: this.udp.address().port }, () => {
          this.tcp.removeListener('error', reject);
          resolve();
        });
      });
      this.started.push({ start: async () => undefined, stop: () => new Promise<void>((r) => {
          this.tcp.close(() => r());
          this.tcp.destroyAll();
        }) });
      await this.admin.start();
      this.started.push(this.admin);
    } catch (err) {
      await this.stop();
      throw new MeridianError('MERIDIAN_ERR_DNS_LISTEN', { address: this.config.listen, reason: (err as Error).message }, { cause: err });
    }
    this.started.push(this.store);
    await this.source.start();
    this.started.push(this.source);
    this.log.info({ listen: this.config.listen, admin: this.config.admin, zone: this.env.settings.zone, ...this.source.status() }, 'dns serving');
  }

  async stop(): Promise<void> {
    const parts = this.started;
    this.started = [];
    const errors = await stopAll(parts);
    for (const e of errors) this.log.warn({ err: e.message }, 'stop failed');
  }
}
