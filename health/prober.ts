/**
 * `meridian prober`: probes every gateway node listed in central etcd (regions/<name>) each
 * interval, applies rise/fall, and writes one HealthObservation per node under its own lease
 * (health/<prober>/<region>/<cluster>/<node>). The lease is what makes the prober "live" for
 * DNS: a prober that dies or loses etcd stops counting after the lease TTL, by itself.
 */
import { EtcdStore, type StoreLease, type StoreWatch } from '../src/core/etcd-store.js';
import { centralKeys, type HealthObservation } from '../src/core/keys.js';
import type { Lifecycle } from '../src/core/lifecycle.js';
import { stopAll } from '../src/core/lifecycle.js';
import { createLogger, type Logger } from '../src/core/logger.js';
import { MeridianError } from '../src/core/errors/index.js';
import { Region } from '../src/core/model/index.js';
import { check } from '../src/core/validate.js';
import type { ProberProgramConfig } from './config.js';
import { ProberMetrics } from './metrics.js';
import { AdminServer } from '../src/core/admin-server.js';
import { probeHttp, probeTcp } from './probe.js';
import { RiseFall } from './tracker.js';

interface Target {
  key: string;
  region: string;
  cluster: string;
  name: string;
  address: string;
  port: number;
  healthz: string;
  tracker: RiseFall;
  inFlight: boolean;
  last?: { http: boolean; tcp: boolean; latency_ms: number; detail: string; checked_at: string };
}

export class Prober implements Lifecycle {
  readonly metrics = new ProberMetrics();
  readonly log: Logger;
  private readonly store: EtcdStore;
  private readonly admin: AdminServer;
  private readonly regions = new Map<string, Region>();
  private targets = new Map<string, Target>();
  private lease: StoreLease | undefined;
  private leaseGrant: Promise<void> | undefined;
  /** What is in etcd for each node (serialized up/http/tcp), so only changes are written. */
  private written = new Map<string, string>();
  private watch: StoreWatch | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private started: Lifecycle[] = [];

  constructor(private readonly config: ProberProgramConfig, log?: Logger) {
    this.log = log ?? createLogger('prober');
    this.store = new EtcdStore({ endpoints: config.etcd.endpoints, prefix: config.etcd.prefix, timeoutMs: config.etcd.timeout_ms });
    this.admin = new AdminServer(config.admin, {
      registry: this.metrics.registry,
      health: () => ({ ok: !this.stopped, detail: { etcd: this.lease !== undefined, targets: this.targets.size } }),
      status: () => this.status(),
    });
  }

  adminPort(): number {
    return this.admin.port();
  }

  status(): Record<string, unknown> {
    return {
      name: this.config.name,
      region: this.config.region,
      etcd: this.lease !== undefined,
      interval_ms: this.config.interval_ms,
      rise: this.config.rise,
      fall: this.config.fall,
      nodes: [...this.targets.values()].map((t) => ({ node: t.key, address: `${t.address}:${t.port}`, up: t.tracker.up ?? null, ...t.last })),
    };
  }

  async start(): Promise<void> {
    this.stopped = false;
    try {
      await this.admin.start();
    } catch (err) {
      throw new MeridianError('MERIDIAN_ERR_PROBER_ADMIN', { address: this.config.admin, reason: (err as Error).message }, { cause: err });
    }
    this.started.push(this.admin, this.store);
    // Probing runs whether or not etcd answers: /status stays truthful, and the first write
    // after etcd returns carries current states.
    await this.connect();
    this.tickTimer = setInterval(() => this.tick(), this.config.interval_ms);
    this.tick();
    this.log.info({ name: this.config.name, region: this.config.region, interval_ms: this.config.interval_ms, rise: this.config.rise, fall: this.config.fall, targets: this.targets.size }, 'prober running');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.tickTimer);
    clearTimeout(this.retryTimer);
    await this.watch?.stop().catch(() => undefined);
    this.watch = undefined;
    // Revoke rather than let the lease expire: DNS stops counting this prober at once.
    await this.lease?.revoke().catch(() => undefined);
    this.lease = undefined;
    const errors = await stopAll(this.started);
    this.started = [];
    for (const e of errors) this.log.warn({ err: e.message }, 'stop failed');
  }

  /** Regions snapshot + watch; retried every second while etcd is unreachable. */
  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const snap = await this.store.snapshot('regions/');
      this.regions.clear();
      for (const e of snap.entries.values()) this.applyRegion(e.key, e.value);
      this.syncTargets();
      this.watch = await this.store.watch('regions/', snap.revision + 1, (events) => {
        for (const ev of events) {
          if (ev.type === 'delete') this.regions.delete(ev.key.slice('regions/'.length));
          else this.applyRegion(ev.key, ev.value);
        }
        this.syncTargets();
      });
      await this.ensureLease();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'etcd unreachable; retrying');
      await this.watch?.stop().catch(() => undefined);
      this.watch = undefined;
      if (!this.stopped) {
        this.retryTimer = setTimeout(() => void this.connect(), 1_000);
        this.retryTimer.unref();
      }
    }
  }

  private applyRegion(key: string, value: unknown): void {
    const res = check(Region, value, key);
    if (res.ok) this.regions.set(res.value.name, res.value);
    else this.log.warn({ key, field: res.field, reason: res.reason }, 'invalid region ignored');
  }

  /** Targets follow the regions: new nodes start fresh, removed nodes lose their key. */
  private syncTargets(): void {
    const want = new Map<string, Target>();
    const only = this.config.probe_regions;
    for (const region of this.regions.values()) {
      if (only.length > 0 && !only.includes(region.name)) continue;
      for (const cluster of region.clusters) {
        for (const node of cluster.nodes) {
          const key = `${region.name}/${cluster.name}/${node.name}`;
          const healthz = `${node.admin.replace(/\/+$/, '')}${this.config.healthz_path}`;
          const old = this.targets.get(key);
          // Same node, same addresses: keep its rise/fall history.
          if (old && old.address === node.address && old.port === node.port && old.healthz === healthz) want.set(key, old);
          else want.set(key, { key, region: region.name, cluster: cluster.name, name: node.name, address: node.address, port: node.port, healthz, tracker: new RiseFall(this.config.rise, this.config.fall), inFlight: false });
        }
      }
    }
    for (const [key, t] of this.targets) {
      if (want.has(key)) continue;
      this.written.delete(key);
      void this.store.delete(centralKeys.health(this.config.name, t.region, t.cluster, t.name)).catch(() => undefined);
    }
    this.targets = want;
    this.metrics.targets.set(want.size);
  }

  private async ensureLease(): Promise<void> {
    if (this.lease || this.stopped) return;
    this.leaseGrant ??= (async () => {
      try {
        const lease = await this.store.lease(this.config.lease_ttl_s);
        lease.on('lost', (err: Error) => {
          // Keys are gone with the lease: take a new one and write every state again.
          this.log.warn({ err: err.message }, 'lease lost; re-granting');
          if (this.lease === lease) this.lease = undefined;
          this.written.clear();
          this.metrics.etcdUp.set(0);
        });
        this.lease = lease;
        this.written.clear();
        this.metrics.etcdUp.set(1);
      } catch (err) {
        this.log.warn({ err: new MeridianError('MERIDIAN_ERR_PROBER_LEASE', { name: this.config.name, reason: (err as Error).message }).message }, 'no lease yet');
      } finally {
        this.leaseGrant = undefined;
      }
    })();
    await this.leaseGrant;
  }

  private tick(): void {
    if (this.stopped) return;
    if (!this.lease) void this.ensureLease();
    for (const t of this.targets.values()) {
      if (t.inFlight) continue; // a slow node never stacks probes
      t.inFlight = true;
      void this.probe(t).finally(() => {
        t.inFlight = false;
      });
    }
  }

  private async probe(t: Target): Promise<void> {
    const { timeout_ms: timeout, source_address: src } = this.config;
    const [http, tcp] = await Promise.all([probeHttp(t.healthz, timeout, src), probeTcp(t.address, t.port, timeout, src)]);
    if (this.stopped || this.targets.get(t.key) !== t) return;
    const ok = http.ok && tcp.ok;
    this.metrics.results.inc({ node: t.key, result: ok ? 'up' : 'down' });
    this.metrics.duration.observe({ node: t.key }, http.latencyMs / 1000);
    t.last = { http: http.ok, tcp: tcp.ok, latency_ms: Math.round(http.latencyMs * 10) / 10, detail: `${http.detail}; tcp ${tcp.detail}`, checked_at: new Date().toISOString() };
    if (t.tracker.record(ok)) {
      this.metrics.transitions.inc({ node: t.key, to: ok ? 'up' : 'down' });
      this.log[ok ? 'info' : 'warn']({ node: t.key, detail: t.last.detail }, ok ? 'node up' : 'node down');
    }
    await this.publish(t);
  }

  /** Writes the node's observation when its state (or a probe's outcome) differs from etcd's. */
  private async publish(t: Target): Promise<void> {
    const up = t.tracker.up;
    const lease = this.lease;
    if (up === undefined || !t.last || !lease) return;
    const sig = `${up}|${t.last.http}|${t.last.tcp}`;
    if (this.written.get(t.key) === sig) return;
    const obs: HealthObservation = {
      prober: this.config.name,
      region: this.config.region,
      node: { region: t.region, cluster: t.cluster, name: t.name },
      up,
      http: t.last.http,
      tcp: t.last.tcp,
      latency_ms: t.last.latency_ms,
      checked_at: t.last.checked_at,
    };
    this.written.set(t.key, sig);
    try {
      await lease.put(centralKeys.health(this.config.name, t.region, t.cluster, t.name), obs);
    } catch (err) {
      // Written again on the next probe.
      this.written.delete(t.key);
      this.log.warn({ node: t.key, err: (err as Error).message }, 'cannot write observation');
    }
  }
}
