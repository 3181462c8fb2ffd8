import type { Logger } from '../core/logger.js';
import type { UpstreamNode } from '../core/model/index.js';
import type { Transport } from './dns-transport.js';
import { NO_NODES, matchesInstance, stabilize } from './node-identity.js';
import type { SrvResolver, SrvResult } from './srv-resolver.js';

/** What one cache entry answers: one DNS name, i.e. one (service, tag, datacenter) or one prepared query. */
export interface EntryKey {
  /** The SRV name asked, e.g. `v2.api.service.west.consul`; the entry's identity. */
  readonly name: string;
  readonly service: string;
  readonly tag?: string;
  /** Datacenter named in the query; undefined = the agent's own (local) datacenter. */
  readonly datacenter?: string;
  readonly preparedQuery?: string;
}

export interface EntryTimings {
  ttlFloorMs: number;
  ttlCeilingMs: number;
  refreshAhead: number;
  maxStaleMs: number;
  negativeTtlMs: number;
  retryMs: number;
  udpAnswerLimit: number;
}

/** How a read was served, for the lookups metric. */
export type LookupResult = 'hit' | 'miss' | 'stale' | 'negative';
/** Index of each LookupResult in a source's tally array (the hot path counts into an array, not a map). */
export const LOOKUP_RESULTS: readonly LookupResult[] = ['hit', 'miss', 'stale', 'negative'];
const HIT = 0;
const MISS = 1;
const STALE = 2;
const NEGATIVE = 3;

/** `positive`: instances known; `negative`: Consul said none pass; `empty`: nothing usable (never answered, or stale past its bound). */
export type EntryState = 'empty' | 'positive' | 'negative';

export interface RefreshOutcome {
  ok: boolean;
  error?: Error;
}

/**
 * One cached SRV answer with its own refresh loop. Reads are synchronous and never wait;
 * refreshes run in the background while at least one source holds the entry, start at
 * `refresh_ahead` of the TTL so a used entry is never expired, and are coalesced: concurrent
 * refresh() calls share one query, except a forced one (purge), which always asks anew and
 * makes older in-flight answers be thrown away (they were asked before the purge).
 */
export class CacheEntry {
  readonly key: EntryKey;
  private readonly resolver: SrvResolver;
  private readonly t: EntryTimings;
  private readonly logger: Logger;

  private state: EntryState = 'empty';
  private list: readonly UpstreamNode[] = NO_NODES;
  private freshUntil = 0;
  private fetchedAt = 0;
  private ttlMs = 0;
  private staleUntil = 0;
  private lastOk = false;
  private failures = 0;
  private lastError: Error | undefined;
  private nextTransport: Transport = 'udp';
  private code = MISS;

  private seq = 0;
  private minApplySeq = 0;
  private appliedSeq = 0;
  private inflight: { seq: number; promise: Promise<RefreshOutcome> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private refs = 0;
  private closed = false;
  private readonly listeners = new Set<() => void>();

  constructor(key: EntryKey, resolver: SrvResolver, timings: EntryTimings, logger: Logger) {
    this.key = key;
    this.resolver = resolver;
    this.t = timings;
    this.logger = logger;
  }

  get nodes(): readonly UpstreamNode[] {
    return this.list;
  }

  get status(): EntryState {
    return this.state;
  }

  get resolving(): boolean {
    return this.inflight !== undefined;
  }

  get holders(): number {
    return this.refs;
  }

  get error(): Error | undefined {
    return this.lastError;
  }

  /**
   * How a read is served now, as an index into LOOKUP_RESULTS. Kept up to date on every state
   * change rather than computed per read, so the hot path needs no clock: fresh turns stale
   * when a refresh fails past the TTL, which the retry loop notices within retry_ms.
   */
  get lookupCode(): number {
    return this.code;
  }

  /** Called whenever nodes or state change. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A holder (a node source) keeps the entry refreshing; the first one triggers the first query. */
  acquire(): void {
    this.refs++;
    if (this.refs === 1 && !this.inflight) {
      if (this.state === 'empty') void this.refresh();
      else this.schedule();
    }
  }

  /** Returns the holders left; at 0 the refresh loop stops. */
  release(): number {
    this.refs = Math.max(0, this.refs - 1);
    if (this.refs === 0) this.clearTimer();
    return this.refs;
  }

  /** Removes one instance (`host:port`, or every port of `host`) from the cached list at once; true if it was there. */
  dropInstance(instance: string): boolean {
    const next = this.list.filter((n) => !matchesInstance(n, instance));
    if (next.length === this.list.length) return false;
    this.list = Object.freeze(next);
    this.classify();
    this.emit();
    return true;
  }

  /**
   * Asks Consul now. Without `force`, joins a query already in flight. With `force`, always
   * sends a new query and no answer to an earlier query is applied afterwards.
   */
  refresh(force = false): Promise<RefreshOutcome> {
    if (this.closed) return Promise.resolve({ ok: false });
    if (!force && this.inflight) return this.inflight.promise;
    const seq = ++this.seq;
    if (force) this.minApplySeq = seq;
    this.clearTimer();
    const promise = this.run(seq).finally(() => {
      if (this.inflight?.seq === seq) this.inflight = undefined;
      if (seq >= this.minApplySeq) this.schedule();
    });
    this.inflight = { seq, promise };
    return promise;
  }

  close(): void {
    this.closed = true;
    this.clearTimer();
    this.listeners.clear();
  }

  private async run(seq: number): Promise<RefreshOutcome> {
    try {
      const result = await this.resolver.resolve(this.key.name, this.nextTransport);
      // Superseded: a purge asked again after this query left, or a newer answer is already in.
      if (seq < this.minApplySeq || seq < this.appliedSeq || this.closed) return { ok: true };
      this.appliedSeq = seq;
      this.apply(result);
      return { ok: true };
    } catch (err) {
      const error = err as Error;
      if (seq < this.minApplySeq || this.closed) return { ok: false, error };
      this.fail(error);
      return { ok: false, error };
    }
  }

  private apply(result: SrvResult): void {
    const now = Date.now();
    const before = { state: this.state, list: this.list };
    if (this.failures > 0) this.logger.info({ name: this.key.name, failures: this.failures }, 'discovery: consul DNS answers again');
    this.failures = 0;
    this.lastError = undefined;
    this.lastOk = true;
    if (result.kind === 'nodes') {
      const ttlMs = Math.min(this.t.ttlCeilingMs, Math.max(this.t.ttlFloorMs, result.ttlSeconds * 1000));
      this.state = 'positive';
      this.list = stabilize(this.list, result.nodes);
      this.fetchedAt = now;
      this.ttlMs = ttlMs;
      this.freshUntil = now + ttlMs;
      this.staleUntil = this.freshUntil + this.t.maxStaleMs;
      // Sticky TCP for services larger than Consul's UDP answer limit: their UDP answer is
      // always cut, so the UDP round trip would be wasted on every refresh.
      this.nextTransport = result.transport === 'tcp' && result.nodes.length >= this.t.udpAnswerLimit ? 'tcp' : 'udp';
    } else {
      this.state = 'negative';
      this.list = NO_NODES;
      this.freshUntil = now + this.t.negativeTtlMs;
      this.staleUntil = this.freshUntil;
      this.nextTransport = 'udp';
    }
    this.classify();
    if (before.state !== this.state || before.list !== this.list) this.emit();
  }

  private fail(error: Error): void {
    this.lastOk = false;
    this.lastError = error;
    if (this.failures++ === 0) this.logger.warn({ name: this.key.name, err: error.message }, 'discovery: consul DNS query failed; serving cached data');
    // Stale data is served only up to max_stale_ms past its TTL: after that an instance list
    // nobody could confirm is worse than none (it may send traffic to long-gone instances).
    if (this.state === 'positive' && Date.now() >= this.staleUntil) {
      this.logger.error({ name: this.key.name, maxStaleMs: this.t.maxStaleMs }, 'discovery: cached instances expired past max_stale_ms; upstream has no nodes');
      this.state = 'empty';
      this.list = NO_NODES;
      this.classify();
      this.emit();
      return;
    }
    this.classify();
  }

  private schedule(): void {
    this.clearTimer();
    if (this.refs === 0 || this.closed || this.inflight) return;
    const now = Date.now();
    let delay: number;
    if (!this.lastOk) delay = this.t.retryMs;
    else if (this.state === 'positive') delay = Math.max(0, this.fetchedAt + this.ttlMs * this.t.refreshAhead - now);
    else delay = Math.max(0, this.freshUntil - now);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh();
    }, delay);
    // A refresh loop alone must not keep a process alive (tests, graceful shutdown).
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private classify(): void {
    if (this.state === 'negative') this.code = NEGATIVE;
    else if (this.state === 'empty' || this.list.length === 0) this.code = MISS;
    else this.code = this.lastOk || Date.now() < this.freshUntil ? HIT : STALE;
  }

  private emit(): void {
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (err) {
        this.logger.error({ err, name: this.key.name }, 'discovery: change listener threw');
      }
    }
  }
}
