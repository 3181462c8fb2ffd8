import type { Logger } from '../../src/core/logger.js';
import type { Lifecycle } from '../../src/core/lifecycle.js';
import type { ResourceKind } from '../../src/core/model/index.js';
import type { CentralMirror } from '../central/mirror.js';
import type { RegionStores } from '../regions/region-stores.js';
import { RegionSync, type RegionSyncState, type SyncOptions } from './region-sync.js';

/**
 * Central etcd -> every region's etcd. Runs on the leader only. One RegionSync per region, so
 * a slow or dead region never holds back the others.
 */
export class Reconciler implements Lifecycle {
  private readonly syncs = new Map<string, RegionSync>();
  private resync: NodeJS.Timeout | undefined;
  private readonly onChange = (kinds: Set<ResourceKind>) => this.changed(kinds);

  constructor(
    private readonly mirror: CentralMirror,
    private readonly stores: RegionStores,
    private readonly opts: SyncOptions & { resyncMs: number },
    private readonly log: Logger,
    private readonly onResult: (state: RegionSyncState) => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    this.mirror.on('change', this.onChange);
    this.changed(new Set(['regions']));
    // Drift (someone edited a region by hand, a region restored from an old backup) is repaired here.
    this.resync = setInterval(() => this.kickAll(), this.opts.resyncMs);
    this.resync.unref();
  }

  private changed(kinds: Set<ResourceKind>): void {
    if (kinds.has('regions')) {
      const names = new Set(this.mirror.list('regions').map((r) => r.id));
      for (const [name, sync] of this.syncs) {
        if (!names.has(name)) {
          sync.stop();
          this.syncs.delete(name);
          this.stores.reset(name);
        }
      }
      for (const name of names) {
        if (!this.syncs.has(name)) this.syncs.set(name, new RegionSync(name, this.mirror, this.stores, this.opts, this.log, this.onResult));
      }
    }
    this.kickAll();
  }

  private kickAll(): void {
    for (const sync of this.syncs.values()) sync.kick();
  }

  states(): RegionSyncState[] {
    return [...this.syncs.values()].map((s) => ({ ...s.state }));
  }

  async stop(): Promise<void> {
    this.mirror.off('change', this.onChange);
    if (this.resync) clearInterval(this.resync);
    for (const s of this.syncs.values()) s.stop();
    this.syncs.clear();
  }
}
