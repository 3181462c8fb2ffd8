import type { Logger } from '../core/logger.js';
import type { ConsulDiscovery, UpstreamNode } from '../core/model/index.js';
import type { NodeSource } from '../upstream/node-source.js';
import { LOOKUP_RESULTS, type CacheEntry, type EntryKey } from './cache-entry.js';
import { NO_NODES } from './node-identity.js';

/** Where a source gets its shared cache entries (the DiscoveryManager). */
export interface EntryPool {
  /** The shared entry for `key`, held (kept refreshing) until release(). */
  acquire(key: EntryKey): CacheEntry;
  release(entry: CacheEntry): void;
  /** Label for a datacenter in logs and metrics ('local' when the local one is unnamed). */
  datacenterLabel(datacenter: string | undefined): string;
  onFailover(service: string, from: string, to: string): void;
  /** The source stopped: the pool forgets it. */
  detach(source: ConsulNodeSource): void;
}

/** A source's counts of how its reads were served, indexed like LOOKUP_RESULTS; taken (and zeroed) by the metrics on scrape. */
export type LookupTallies = number[];

/**
 * The nodes of one upstream with `discovery: { type: consul, ... }`.
 *
 * It serves the first datacenter of its chain (the upstream's datacenter, then its `failover`
 * list; or the one prepared query) that has passing instances, and moves back as soon as an
 * earlier one has again: the earlier entries stay held, so they keep being re-asked every
 * `negative_ttl_ms`. Entries after the one served are released, so a healthy upstream costs
 * one query per refresh, not one per datacenter.
 *
 * Node objects and the array are stable across refreshes (see node-identity.ts): subscribers
 * are called only when the list really changed.
 */
export class ConsulNodeSource implements NodeSource {
  readonly discovery: ConsulDiscovery;
  /** The names this source may ask, in preference order. */
  readonly chain: readonly EntryKey[];
  private readonly pool: EntryPool;
  private readonly logger: Logger;
  private readonly held: Array<CacheEntry | undefined>;
  private readonly unsubscribe: Array<(() => void) | undefined>;
  private readonly listeners = new Set<(nodes: readonly UpstreamNode[]) => void>();
  private list: readonly UpstreamNode[] = NO_NODES;
  private serving = -1;
  private lastServed = -1;
  private started = false;
  private stopped = false;
  readonly tallies: LookupTallies = LOOKUP_RESULTS.map(() => 0);

  constructor(discovery: ConsulDiscovery, chain: readonly EntryKey[], pool: EntryPool, logger: Logger) {
    this.discovery = discovery;
    this.chain = chain;
    this.pool = pool;
    this.logger = logger;
    this.held = chain.map(() => undefined);
    this.unsubscribe = chain.map(() => undefined);
  }

  /** Hot path: the nodes to balance over now. Never waits; counts how the read was served. */
  current(): readonly UpstreamNode[] {
    const entry = this.serving >= 0 ? this.held[this.serving] : this.held[0];
    (this.tallies[entry ? entry.lookupCode : 1] as number)++;
    return this.list;
  }

  subscribe(onChange: (nodes: readonly UpstreamNode[]) => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }

  /**
   * Holds the first entry and waits for its first answer (bounded by the query timeout per
   * server), and for a failover lookup if that answer was negative. Never throws for Consul
   * trouble: the source then has no nodes and keeps retrying in the background.
   */
  async start(): Promise<void> {
    if (this.started || this.stopped) return;
    this.started = true;
    this.evaluate();
    await this.settled();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (let i = 0; i < this.chain.length; i++) this.drop(i);
    this.listeners.clear();
    this.pool.detach(this);
  }

  /** Datacenter now served ('local' for the local one), or undefined when none has instances. */
  get datacenter(): string | undefined {
    const key = this.serving >= 0 ? this.chain[this.serving] : undefined;
    return key ? this.pool.datacenterLabel(key.datacenter) : undefined;
  }

  /** Entries this source holds now (the manager's purge waits on their refreshes). */
  heldEntries(): CacheEntry[] {
    return this.held.filter((e): e is CacheEntry => e !== undefined);
  }

  /** Resolves once no held entry is resolving (a failover step may hold a new one on the way). */
  async settled(): Promise<void> {
    for (let round = 0; round <= this.chain.length; round++) {
      const busy = this.heldEntries().filter((e) => e.resolving);
      if (busy.length === 0) return;
      await Promise.all(busy.map((e) => e.refresh()));
    }
  }

  private hold(i: number): CacheEntry {
    const existing = this.held[i];
    if (existing) return existing;
    const key = this.chain[i] as EntryKey;
    const entry = this.pool.acquire(key);
    this.held[i] = entry;
    this.unsubscribe[i] = entry.onChange(() => this.evaluate());
    return entry;
  }

  private drop(i: number): void {
    const entry = this.held[i];
    if (!entry) return;
    this.unsubscribe[i]?.();
    this.unsubscribe[i] = undefined;
    this.held[i] = undefined;
    this.pool.release(entry);
  }

  /** Picks the datacenter to serve from the entries' states; runs on every entry change. */
  private evaluate(): void {
    if (this.stopped) return;
    let chosen = -1;
    let lastNeeded = 0;
    for (let i = 0; i < this.chain.length; i++) {
      lastNeeded = i;
      const entry = this.hold(i);
      if (entry.status === 'positive' && entry.nodes.length > 0) {
        chosen = i;
        break;
      }
      // Not answered yet: wait for it rather than skip to a farther datacenter.
      if (entry.status === 'empty' && entry.resolving) break;
      // negative, or empty after a failed query: try the next datacenter.
    }
    for (let i = lastNeeded + 1; i < this.chain.length; i++) this.drop(i);

    // While the next datacenter is being asked the list is empty, never the instances Consul
    // just stopped listing: those failed their checks or were purged.
    const next = chosen >= 0 ? (this.held[chosen] as CacheEntry).nodes : NO_NODES;
    if (chosen >= 0 && this.lastServed >= 0 && chosen !== this.lastServed) {
      const from = this.pool.datacenterLabel(this.chain[this.lastServed]?.datacenter);
      const to = this.pool.datacenterLabel(this.chain[chosen]?.datacenter);
      this.logger.warn({ service: this.discovery.service, from, to }, chosen > this.lastServed ? 'discovery: failing over to the next datacenter' : 'discovery: back to a preferred datacenter');
      this.pool.onFailover(this.discovery.service, from, to);
    }
    this.serving = chosen;
    if (chosen >= 0) this.lastServed = chosen;
    if (next !== this.list) {
      this.list = next;
      for (const l of [...this.listeners]) {
        try {
          l(next);
        } catch (err) {
          this.logger.error({ err, service: this.discovery.service }, 'discovery: node-list subscriber threw');
        }
      }
    }
  }
}
