import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { MeridianError } from '../core/errors/index.js';
import { createLogger, type Logger } from '../core/logger.js';
import type { ConsulDiscovery, UpstreamNode } from '../core/model/index.js';
import { CacheEntry, LOOKUP_RESULTS, type EntryKey, type EntryTimings, type LookupResult } from './cache-entry.js';
import { parseDiscoveryConfig, type DiscoveryConfig, type DiscoveryConfigInput } from './config.js';
import { ConsulNodeSource, type EntryPool } from './consul-node-source.js';
import { DiscoveryMetrics, type LookupTally } from './metrics.js';
import { matchesInstance, nodeKey } from './node-identity.js';
import { SrvResolver } from './srv-resolver.js';

export interface DiscoveryManagerOptions {
  /** The `discovery` config section; defaults fill what is missing (see config.ts). */
  config?: DiscoveryConfigInput;
  /** The worker's prom-client registry; the discovery metrics are registered on it. */
  registry: Registry;
  logger?: Logger;
}

/** What to purge; the given fields must all match (none given: everything). */
export interface PurgeFilter {
  service?: string;
  /** Datacenter name; local entries match it when it is the configured local datacenter (or that is unset). */
  datacenter?: string;
  /** `address:port` of one instance as Consul lists it (ServiceAddress or node Address, and ServicePort), or a bare address for all its ports. */
  instance?: string;
}

export interface PurgedEntry {
  name: string;
  service: string;
  tag?: string;
  datacenter: string;
}

export interface PurgeResult {
  /** Entries that matched and were asked again. */
  purged: PurgedEntry[];
  /** Entries whose cached list held `instance` and had it removed at once. */
  instanceRemovedFrom: number;
  /** Entries whose re-resolution failed: they keep their cached list (minus `instance`) and keep retrying. */
  failed: Array<{ name: string; error: string }>;
  durationMs: number;
}

export interface EntrySnapshot {
  name: string;
  service: string;
  tag?: string;
  datacenter: string;
  status: 'empty' | 'positive' | 'negative';
  nodes: string[];
  holders: number;
  error?: string;
}

/**
 * Consul discovery for one gateway worker: one cache entry per DNS name, shared by every
 * upstream that asks it; node sources for the gateway; purge; metrics.
 */
export class DiscoveryManager implements EntryPool {
  readonly config: DiscoveryConfig;
  private readonly logger: Logger;
  private readonly resolver: SrvResolver;
  private readonly timings: EntryTimings;
  private readonly entries = new Map<string, CacheEntry>();
  private readonly sources = new Set<ConsulNodeSource>();
  /** Tallies of stopped sources, not yet scraped. */
  private readonly leftover = new Map<string, number>();
  private readonly metrics: DiscoveryMetrics;
  private stopped = false;

  constructor(options: DiscoveryManagerOptions) {
    this.config = parseDiscoveryConfig(options.config ?? {});
    this.logger = options.logger ?? createLogger('discovery');
    const c = this.config;
    this.resolver = new SrvResolver({ servers: c.servers, timeoutMs: c.query_timeout_ms, udpAnswerLimit: c.udp_answer_limit, logger: this.logger });
    this.timings = {
      ttlFloorMs: c.ttl_floor_ms, ttlCeilingMs: c.ttl_ceiling_ms, refreshAhead: c.refresh_ahead,
      maxStaleMs: c.max_stale_ms, negativeTtlMs: c.negative_ttl_ms, retryMs: c.retry_ms, udpAnswerLimit: c.udp_answer_limit,
    };
    this.metrics = new DiscoveryMetrics(options.registry, () => this.drainTallies());
  }

  /**
   * A NodeSource for an upstream's `discovery` block. Sources for the same service/tag/
   * datacenter share one cache entry. Call `start()` on it (waits for the first answer), and
   * `stop()` when the upstream goes away (its entries are released).
   */
  sourceFor(discovery: ConsulDiscovery): ConsulNodeSource {
    if (this.stopped) throw new MeridianError('MERIDIAN_ERR_DISCOVERY_STOPPED');
    const source = new ConsulNodeSource(discovery, this.chainFor(discovery), this, this.logger);
    this.sources.add(source);
    return source;
  }

  /**
   * Drops what matches `filter` and asks Consul again at once. Resolves when every matching
   * entry has its new answer (or its query failed) and every source has switched to it,
   * including a failover step that this caused. An `instance` is removed from cached lists
   * before anything is asked, so no request reaches it even if Consul does not answer.
   */
  async purge(filter: PurgeFilter = {}): Promise<PurgeResult> {
    const started = performance.now();
    const matched = [...this.entries.values()].filter((e) => this.matches(e, filter));
    let instanceRemovedFrom = 0;
    if (filter.instance !== undefined) {
      for (const e of matched) if (e.dropInstance(filter.instance)) instanceRemovedFrom++;
    }
    const outcomes = await Promise.all(matched.map((e) => e.refresh(true)));
    await Promise.all([...this.sources].map((s) => s.settled()));
    const failed = matched.flatMap((e, i) => {
      const o = outcomes[i];
      return o && !o.ok ? [{ name: e.key.name, error: o.error?.message ?? 'stopped' }] : [];
    });
    const durationMs = performance.now() - started;
    this.metrics.purges.inc({ result: failed.length === 0 ? 'ok' : 'partial' });
    this.metrics.purgeDuration.observe(durationMs / 1000);
    const result: PurgeResult = {
      purged: matched.map((e) => ({ name: e.key.name, service: e.key.service, ...(e.key.tag !== undefined ? { tag: e.key.tag } : {}), datacenter: this.datacenterLabel(e.key.datacenter) })),
      instanceRemovedFrom,
      failed,
      durationMs,
    };
    this.logger.info({ filter, purged: result.purged.length, failed: failed.length, durationMs: Math.round(durationMs * 10) / 10 }, 'discovery: purge applied');
    return result;
  }

  /**
   * The nodes for `discovery`, waiting for Consul only when nothing usable is cached (for
   * callers off the hot path: admin, tools, tests). The gateway's request path uses sources.
   */
  async resolve(discovery: ConsulDiscovery): Promise<readonly UpstreamNode[]> {
    const source = this.sourceFor(discovery);
    try {
      await source.start();
      return source.current();
    } finally {
      await source.stop();
    }
  }

  /** Every cache entry, for the admin API and debugging. */
  snapshot(): EntrySnapshot[] {
    return [...this.entries.values()].map((e) => ({
      name: e.key.name,
      service: e.key.service,
      ...(e.key.tag !== undefined ? { tag: e.key.tag } : {}),
      datacenter: this.datacenterLabel(e.key.datacenter),
      status: e.status,
      nodes: e.nodes.map(nodeKey),
      holders: e.holders,
      ...(e.error ? { error: e.error.message } : {}),
    }));
  }

  async start(): Promise<void> {}

  /** Stops every source and refresh loop. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([...this.sources].map((s) => s.stop()));
    for (const e of this.entries.values()) e.close();
    this.entries.clear();
  }

  // ---- EntryPool (used by the sources) ----------------------------------------------------

  acquire(key: EntryKey): CacheEntry {
    let entry = this.entries.get(key.name);
    if (!entry) {
      entry = new CacheEntry(key, this.resolver, this.timings, this.logger);
      this.entries.set(key.name, entry);
    }
    entry.acquire();
    return entry;
  }

  release(entry: CacheEntry): void {
    // No holder left: forget it, so an upstream removed from config stops costing queries.
    if (entry.release() === 0 && this.entries.get(entry.key.name) === entry) {
      entry.close();
      this.entries.delete(entry.key.name);
    }
  }

  detach(source: ConsulNodeSource): void {
    // Its unscraped tallies are kept for the next scrape.
    this.keepTallies(source);
    this.sources.delete(source);
  }

  datacenterLabel(datacenter: string | undefined): string {
    return datacenter ?? this.config.datacenter ?? 'local';
  }

  onFailover(service: string, from: string, to: string): void {
    this.metrics.failovers.inc({ service, from, to });
  }

  // ---- internals ----------------------------------------------------------------------------

  /** The DNS names to ask for `discovery`, in preference order. */
  private chainFor(d: ConsulDiscovery): EntryKey[] {
    const domain = this.config.domain;
    if (d.prepared_query !== undefined) {
      // Consul applies the query's own Failover (NearestN, Datacenters): one name, no chain here.
      return [{ name: `${d.prepared_query}.query.${domain}`.toLowerCase(), service: d.service, preparedQuery: d.prepared_query }];
    }
    // Consul's SRV name can carry one tag; more tags must be expressed as a prepared query.
    const tag = d.tags?.[0];
    if ((d.tags?.length ?? 0) > 1) this.logger.warn({ service: d.service, tags: d.tags }, 'discovery: only the first tag filters a Consul DNS query; use a prepared query for more');
    const local = this.config.datacenter;
    const dcs: Array<string | undefined> = [d.datacenter];
    for (const dc of d.failover ?? []) {
      // The local datacenter may be listed in failover (a shared list for every region): asking it twice is useless.
      if (!dcs.some((x) => (x ?? local) === dc)) dcs.push(dc);
    }
    return dcs.map((dc) => {
      const name = `${tag !== undefined ? `${tag}.` : ''}${d.service}.service${dc !== undefined ? `.${dc}` : ''}.${domain}`.toLowerCase();
      return { name, service: d.service, ...(tag !== undefined ? { tag } : {}), ...(dc !== undefined ? { datacenter: dc } : {}) };
    });
  }

  private matches(e: CacheEntry, f: PurgeFilter): boolean {
    if (f.service !== undefined && e.key.service !== f.service) return false;
    if (f.datacenter !== undefined) {
      const dc = e.key.datacenter ?? this.config.datacenter;
      // Unknown datacenter (local and unnamed, or a prepared query that may fail over anywhere):
      // purged too, since purging too much costs one query and too little a stale instance.
      if (dc !== undefined && e.key.preparedQuery === undefined && dc !== f.datacenter) return false;
    }
    if (f.instance !== undefined) {
      const inst = f.instance;
      if (!e.nodes.some((n) => matchesInstance(n, inst))) return false;
    }
    return true;
  }

  private keepTallies(source: ConsulNodeSource): void {
    LOOKUP_RESULTS.forEach((result, i) => {
      const count = source.tallies[i] ?? 0;
      if (count === 0) return;
      const key = `${source.discovery.service}\u0000${result}`;
      this.leftover.set(key, (this.leftover.get(key) ?? 0) + count);
      source.tallies[i] = 0;
    });
  }

  private *drainTallies(): Iterable<LookupTally> {
    for (const source of this.sources) this.keepTallies(source);
    for (const [key, count] of this.leftover) {
      const [service, result] = key.split('\u0000') as [string, LookupResult];
      yield { service, result, count };
    }
    this.leftover.clear();
  }
}
