import { EventEmitter } from 'node:events';
import type { EtcdStore, Entry, StoreWatch, WatchEvent } from '../../src/core/etcd-store.js';
import { RESOURCES, type ResourceKind, type ResourceOf } from '../../src/core/model/index.js';
import { REGIONAL_KINDS } from '../../src/core/keys.js';
import type { Logger } from '../../src/core/logger.js';
import type { Lifecycle } from '../../src/core/lifecycle.js';

const REGIONAL = new Set<string>(REGIONAL_KINDS);

function kindOf(key: string): ResourceKind | undefined {
  const kind = key.slice(0, key.indexOf('/'));
  return Object.hasOwn(RESOURCES, kind) ? (kind as ResourceKind) : undefined;
}

/**
 * An in-memory copy of the central resources at one etcd revision: snapshot, then a watch from
 * the next revision, so readers (reconciler, Consul watches, deploy timers) see one consistent
 * state and never poll etcd. Emits 'change' (kinds touched, revision).
 */
export class CentralMirror extends EventEmitter implements Lifecycle {
  private entries = new Map<string, Entry>();
  private watch: StoreWatch | undefined;
  private stopped = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  /** Revision the copy is consistent at. */
  revision = 0;
  /** Revision of the newest change to data-plane kinds: what every region must reach. */
  configRevision = 0;

  constructor(private readonly store: EtcdStore, private readonly log: Logger) {
    super();
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.load();
  }

  private async load(): Promise<void> {
    const snap = await this.store.snapshot('');
    const entries = new Map<string, Entry>();
    let configRevision = 0;
    for (const [key, e] of snap.entries) {
      const kind = kindOf(key);
      if (!kind) continue;
      entries.set(key, e);
      if (REGIONAL.has(kind)) configRevision = Math.max(configRevision, e.modRevision);
    }
    this.entries = entries;
    this.revision = snap.revision;
    // Deletions before the snapshot are not visible: the newest surviving change is the floor.
    this.configRevision = Math.max(this.configRevision, configRevision);
    await this.watch?.stop().catch(() => undefined);
    this.watch = await this.store.watch('', snap.revision + 1, (events) => this.apply(events), (err) => this.onWatchError(err));
    this.emit('change', new Set(Object.keys(RESOURCES) as ResourceKind[]), this.revision);
  }

  private apply(events: WatchEvent[]): void {
    const kinds = new Set<ResourceKind>();
    for (const ev of events) {
      this.revision = Math.max(this.revision, ev.modRevision);
      const kind = kindOf(ev.key);
      if (!kind) continue;
      kinds.add(kind);
      if (REGIONAL.has(kind)) this.configRevision = Math.max(this.configRevision, ev.modRevision);
      if (ev.type === 'delete') this.entries.delete(ev.key);
      else this.entries.set(ev.key, { key: ev.key, value: ev.value, modRevision: ev.modRevision, createRevision: ev.modRevision });
    }
    if (kinds.size > 0) this.emit('change', kinds, this.revision);
  }

  /** A watch that fails for good (compaction, say) is replaced by a fresh snapshot and watch. */
  private onWatchError(err: Error): void {
    this.log.warn({ err: err.message }, 'central watch error; reloading');
    if (this.stopped || this.resyncTimer) return;
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      if (this.stopped) return;
      this.load().catch((e: unknown) => this.onWatchError(e as Error));
    }, 1_000);
  }

  list<K extends ResourceKind>(kind: K): Array<{ id: string; value: ResourceOf<K>; revision: number }> {
    const out: Array<{ id: string; value: ResourceOf<K>; revision: number }> = [];
    const prefix = `${kind}/`;
    for (const [key, e] of this.entries) {
      if (key.startsWith(prefix)) out.push({ id: key.slice(prefix.length), value: e.value as ResourceOf<K>, revision: e.modRevision });
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  get<K extends ResourceKind>(kind: K, id: string): { value: ResourceOf<K>; revision: number } | undefined {
    const e = this.entries.get(`${kind}/${id}`);
    return e ? { value: e.value as ResourceOf<K>, revision: e.modRevision } : undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncTimer = undefined;
    await this.watch?.stop().catch(() => undefined);
    this.watch = undefined;
  }
}
