import type { EtcdStore} from '../../core/etcd-store.js';
import { type StoreWatch, type WatchEvent } from '../../core/etcd-store.js';
import { REGIONAL_KINDS, regionalKeys, type RegionalKind, type RegionalRevision } from '../../core/keys.js';
import type { ConfigSource } from './types.js';

/**
 * etcd mode: ONE watch per gateway node (in the primary) on the regional `config/` prefix.
 * A full read, then a watch from the next revision (the etcd3 watcher resumes after
 * reconnects, so no event is lost); events are folded into the key map and, debounced, the
 * assembled snapshot is handed over. If etcd is unreachable the source retries in the
 * background while the primary serves its last-known-good snapshot.
 */
export class EtcdConfigSource implements ConfigSource {
  readonly kind = 'etcd';
  connected = false;
  private readonly entries = new Map<string, unknown>();
  private sortedKeys: string[] | undefined;
  private watch: StoreWatch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private snapshotFn: (raw: unknown) => void = () => undefined;
  private errorFn: (reason: string) => void = () => undefined;

  constructor(readonly store: EtcdStore, private readonly debounceMs: number, private readonly retryMs = 1_000) {}

  onSnapshot(fn: (raw: unknown) => void): void {
    this.snapshotFn = fn;
  }

  onError(fn: (reason: string) => void): void {
    this.errorFn = fn;
  }

  /** Resolves after the first attempt (success or not); failures keep retrying in the background. */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const snap = await this.store.snapshot(regionalKeys.config());
      this.entries.clear();
      this.sortedKeys = undefined;
      for (const [key, e] of snap.entries) this.entries.set(key, e.value);
      this.watch = await this.store.watch(regionalKeys.config(), snap.revision + 1, (events) => this.apply(events), (err) => this.errorFn(`etcd watch: ${err.message}`));
      this.connected = true;
      this.emit();
    } catch (err) {
      this.errorFn((err as Error).message);
      this.retry = setTimeout(() => void this.connect(), this.retryMs);
    }
  }

  private apply(events: WatchEvent[]): void {
    for (const ev of events) {
      if (ev.type === 'put') {
        if (!this.entries.has(ev.key)) this.sortedKeys = undefined;
        this.entries.set(ev.key, ev.value);
      } else if (this.entries.delete(ev.key)) this.sortedKeys = undefined;
    }
    if (this.timer) return;
    // Several writes of one reconcile pass become one snapshot (and one router build).
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.emit();
    }, this.debounceMs);
  }

  private emit(): void {
    // The key order changes only when keys come or go; a changed value keeps its place.
    this.sortedKeys ??= [...this.entries.keys()].sort();
    this.snapshotFn(assemble(this.entries, this.sortedKeys));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retry) clearTimeout(this.retry);
    await this.watch?.stop().catch(() => undefined);
  }
}

/** `config/<kind>/<id>` entries to a GatewayConfig-shaped object (sorted by key: stable order). */
export function assemble(entries: ReadonlyMap<string, unknown>, sortedKeys: readonly string[] = [...entries.keys()].sort()): Record<string, unknown> {
  const out: Record<string, unknown[]> = {};
  for (const k of REGIONAL_KINDS) out[k] = [];
  let revision = 0;
  const revisionKey = regionalKeys.revision();
  for (const key of sortedKeys) {
    const value = entries.get(key);
    if (key === revisionKey) {
      revision = Number((value as Partial<RegionalRevision>)?.central_revision ?? 0);
      continue;
    }
    const parts = key.split('/');
    const list = parts.length === 3 && Object.hasOwn(out, parts[1] as string) ? out[parts[1] as RegionalKind] : undefined;
    if (list !== undefined) list.push(value);
  }
  return { revision, ...out };
}
