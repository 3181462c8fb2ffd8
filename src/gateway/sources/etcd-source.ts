import type { EtcdStore } from '../../core/etcd-store.js';
import { isMeridianError } from '../../core/errors/index.js';
import { type StoreWatch, type WatchEvent } from '../../core/etcd-store.js';
import { REGIONAL_KINDS, regionalKeys, type RegionalKind, type RegionalRevision } from '../../core/keys.js';
import type { ConfigSource } from './types.js';

export interface EtcdSourceOptions {
  debounceMs: number;
  /** Retry of a failed read-and-watch (ms, default 1000). */
  retryMs?: number;
  /** How often etcd is asked whether it answers, for `connected` (ms, default 1000). */
  probeMs?: number;
}

/**
 * etcd mode: ONE watch per gateway node (in the primary) on the regional `config/` prefix.
 * A full read, then a watch from the next revision (the etcd3 watcher resumes after
 * reconnects, so no event is lost); events are folded into the key map and, debounced, the
 * assembled snapshot is handed over. If etcd is unreachable the source retries in the
 * background while the primary serves its last-known-good snapshot.
 *
 * `connected` is kept true to the facts by a probe (one read of a missing key per probeMs):
 * the etcd3 watcher reconnects silently, so the watch alone cannot say that etcd is gone.
 * A watch etcd cancels (a compacted revision after a restore) is replaced by a fresh read.
 */
export class EtcdConfigSource implements ConfigSource {
  readonly kind = 'etcd';
  connected = false;
  private readonly entries = new Map<string, unknown>();
  private sortedKeys: string[] | undefined;
  /** The last snapshot handed over, with where each key's value sits in it. */
  private assembly: Assembly | undefined;
  /** Keys whose value changed (in place) since that snapshot. */
  private readonly changed = new Set<string>();
  private watch: StoreWatch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private stopped = false;
  private snapshotFn: (raw: unknown) => void = () => undefined;
  private errorFn: (reason: string) => void = () => undefined;
  private readonly retryMs: number;
  private readonly probeMs: number;

  constructor(readonly store: EtcdStore, private readonly opts: EtcdSourceOptions) {
    this.retryMs = opts.retryMs ?? 1_000;
    this.probeMs = opts.probeMs ?? 1_000;
  }

  get description(): string {
    return `the etcd prefix ${this.store.full(regionalKeys.config())}`;
  }

  onSnapshot(fn: (raw: unknown) => void): void {
    this.snapshotFn = fn;
  }

  onError(fn: (reason: string) => void): void {
    this.errorFn = fn;
  }

  /** Resolves after the first attempt (success or not); failures keep retrying in the background. */
  async start(): Promise<void> {
    await this.connect();
    this.probeTimer = setInterval(() => void this.probe(), this.probeMs);
    this.probeTimer.unref();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const snap = await this.store.snapshot(regionalKeys.config());
      this.entries.clear();
      this.sortedKeys = undefined;
      this.changed.clear();
      for (const [key, e] of snap.entries) this.entries.set(key, e.value);
      this.watch = await this.store.watch(regionalKeys.config(), snap.revision + 1, (events) => this.apply(events), (err) => this.onWatchError(err));
      this.connected = true;
      this.emit();
    } catch (err) {
      this.connected = false;
      this.errorFn((err as Error).message);
      this.reconnectLater();
    }
  }

  private reconnectLater(): void {
    if (this.retry || this.stopped) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, this.retryMs);
  }

  /** An undecodable value is skipped (reported); any other watch error means the watch is gone. */
  private onWatchError(err: Error): void {
    if (isMeridianError(err, 'MERIDIAN_ERR_STORE_DECODE')) return this.errorFn(`etcd watch: ${err.message}`);
    this.connected = false;
    this.errorFn(`etcd watch ended: ${err.message}; reading the prefix again`);
    const old = this.watch;
    this.watch = undefined;
    void old?.stop().catch(() => undefined);
    this.reconnectLater();
  }

  /** While a watch exists: does etcd answer? (A read-and-watch in progress sets `connected` itself.) */
  private async probe(): Promise<void> {
    if (this.probing || this.stopped || !this.watch) return;
    this.probing = true;
    try {
      await this.store.revision();
      this.connected = this.watch !== undefined;
    } catch (err) {
      if (this.connected) this.errorFn(`etcd unreachable: ${(err as Error).message}`);
      this.connected = false;
    } finally {
      this.probing = false;
    }
  }

  private apply(events: WatchEvent[]): void {
    for (const ev of events) {
      if (ev.type === 'put') {
        if (!this.entries.has(ev.key)) this.sortedKeys = undefined;
        else this.changed.add(ev.key);
        this.entries.set(ev.key, ev.value);
      } else if (this.entries.delete(ev.key)) this.sortedKeys = undefined;
    }
    if (this.timer) return;
    // Several writes of one reconcile pass become one snapshot (and one router build).
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.emit();
    }, this.opts.debounceMs);
  }

  private emit(): void {
    // A prefix without a single key is a wiped region, not a config: handed over as nothing.
    if (this.entries.size === 0) return this.snapshotFn(undefined);
    // The key order changes only when keys come or go; a changed value keeps its place.
    this.sortedKeys ??= [...this.entries.keys()].sort();
    // Same keys as the last snapshot: only the changed values are put in (copies of the lists
    // they are in), so a change of one route among 10,000 does not go through all the keys.
    this.assembly = this.assembly?.keys === this.sortedKeys ? reassemble(this.assembly, this.entries, this.changed) : assemble(this.entries, this.sortedKeys);
    this.changed.clear();
    this.snapshotFn(this.assembly.config);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retry) clearTimeout(this.retry);
    if (this.probeTimer) clearInterval(this.probeTimer);
    await this.watch?.stop().catch(() => undefined);
  }
}

/** A snapshot assembled from the key map, with the position of each resource key's value in it. */
interface Assembly {
  keys: readonly string[];
  config: Record<string, unknown>;
  at: Map<string, { kind: RegionalKind; index: number }>;
}

/**
 * `config/<kind>/<id>` entries to a GatewayConfig-shaped object (sorted by key: stable order).
 * `config/_revision` is the controller's mark on what it wrote: its revision is the config's,
 * and its presence is the explicit `allow_empty` (the controller writes it with every change,
 * including one that removed the last route); without it a read of no routes is refused.
 */
export function assemble(entries: ReadonlyMap<string, unknown>, sortedKeys: readonly string[] = [...entries.keys()].sort()): Assembly {
  const out: Record<string, unknown[]> = {};
  for (const k of REGIONAL_KINDS) out[k] = [];
  const at = new Map<string, { kind: RegionalKind; index: number }>();
  let revision = 0;
  const revisionKey = regionalKeys.revision();
  for (const key of sortedKeys) {
    const value = entries.get(key);
    if (key === revisionKey) {
      revision = revisionOf(value);
      continue;
    }
    const parts = key.split('/');
    const kind = parts[1] as RegionalKind;
    const list = parts.length === 3 && Object.hasOwn(out, kind) ? out[kind] : undefined;
    if (list === undefined) continue;
    at.set(key, { kind, index: list.length });
    list.push(value);
  }
  return { keys: sortedKeys, config: { revision, allow_empty: entries.has(revisionKey), ...out }, at };
}

/** The last assembly with the values of `changed` keys (same key set) put in; lists without a change are shared. */
function reassemble(last: Assembly, entries: ReadonlyMap<string, unknown>, changed: ReadonlySet<string>): Assembly {
  const config = { ...last.config };
  for (const key of changed) {
    const value = entries.get(key);
    if (key === regionalKeys.revision()) {
      config.revision = revisionOf(value);
      continue;
    }
    const place = last.at.get(key);
    if (place === undefined) continue;
    let list = config[place.kind] as unknown[];
    if (list === last.config[place.kind]) config[place.kind] = list = list.slice();
    list[place.index] = value;
  }
  return { ...last, config };
}

function revisionOf(value: unknown): number {
  return Number((value as Partial<RegionalRevision> | undefined)?.central_revision ?? 0);
}
