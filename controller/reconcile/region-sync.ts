import { isDeepStrictEqual } from 'node:util';
import type { IOperation } from 'etcd3';
import { regionalKeys, type RegionalRevision } from '../../src/core/keys.js';
import type { Region } from '../../src/core/model/index.js';
import type { Logger } from '../../src/core/logger.js';
import type { CentralMirror } from '../central/mirror.js';
import type { RegionStores } from '../regions/region-stores.js';
import { desiredFor } from './desired.js';

/** etcd refuses transactions above --max-txn-ops (128 by default); one slot is kept for config/_revision. */
const MAX_OPS = 120;

export interface RegionSyncState {
  region: string;
  desired_revision: number;
  applied_revision: number;
  failures: number;
  last_error?: string;
  last_success_at?: string;
  next_retry_at?: string;
}

export interface SyncOptions {
  backoffMinMs: number;
  backoffMaxMs: number;
}

/**
 * Brings one region's etcd to the central state: reads what the region holds, writes only the
 * difference, then config/_revision. One run at a time; a change during a run makes another
 * run; a failure retries with capped exponential backoff (and jitter) until the region answers,
 * which is also how a region that was down catches up.
 */
export class RegionSync {
  readonly state: RegionSyncState;
  private running = false;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    readonly name: string,
    private readonly mirror: CentralMirror,
    private readonly stores: RegionStores,
    private readonly opts: SyncOptions,
    private readonly log: Logger,
    private readonly onResult: (state: RegionSyncState) => void,
  ) {
    this.state = { region: name, desired_revision: 0, applied_revision: 0, failures: 0 };
  }

  /** Run as soon as possible (coalesced with a run in progress). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    // A pending backoff retry is overtaken: new data is worth a try right away.
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    this.dirty = false;
    try {
      await this.apply();
      this.state.failures = 0;
      delete this.state.last_error;
      delete this.state.next_retry_at;
      this.state.last_success_at = new Date().toISOString();
    } catch (err) {
      this.state.failures++;
      this.state.last_error = (err as Error).message;
      this.stores.reset(this.name);
      const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffMinMs * 2 ** Math.min(this.state.failures - 1, 16));
      const delay = Math.round(base * (0.5 + Math.random() * 0.5));
      this.state.next_retry_at = new Date(Date.now() + delay).toISOString();
      if (this.state.failures === 1 || this.state.failures % 10 === 0) this.log.warn({ region: this.name, err: this.state.last_error, failures: this.state.failures }, 'regional write failed; retrying');
      if (!this.stopped) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.kick();
        }, delay);
      }
    } finally {
      this.running = false;
      this.onResult(this.state);
    }
    if (this.dirty && !this.stopped && !this.timer) this.kick();
  }

  private async apply(): Promise<void> {
    const region = this.mirror.get('regions', this.name)?.value as Region | undefined;
    if (!region) return;
    const store = this.stores.get(region);
    if (!store) return;
    // Read both at the same moment: the state computed matches the revision recorded.
    const desiredRevision = this.mirror.configRevision;
    const desired = desiredFor(this.mirror, this.name);
    this.state.desired_revision = desiredRevision;

    const current = await store.snapshot(regionalKeys.config());
    const revKey = regionalKeys.revision();
    const revEntry = current.entries.get(revKey);
    const applied = (revEntry?.value as RegionalRevision | undefined)?.central_revision ?? 0;

    const c = store.client;
    const ops: IOperation[] = [];
    for (const [key, value] of desired) {
      const cur = current.entries.get(key);
      if (!cur || !isDeepStrictEqual(cur.value, value)) ops.push(c.put(store.full(key)).value(JSON.stringify(value)));
    }
    for (const key of current.entries.keys()) {
      if (key !== revKey && !desired.has(key)) ops.push(c.delete().key(store.full(key)));
    }
    if (ops.length === 0 && applied >= desiredRevision) {
      this.state.applied_revision = applied;
      return;
    }
    const revision: RegionalRevision = { central_revision: Math.max(desiredRevision, applied), written_at: new Date().toISOString() };
    ops.push(c.put(store.full(revKey)).value(JSON.stringify(revision)));
    // Fence on config/_revision: if another writer (an old leader) moved it since our read,
    // this run fails and the retry starts again from what is really there.
    const fence = revEntry?.modRevision ?? 0;
    for (let i = 0; i < ops.length; i += MAX_OPS) {
      const batch = ops.slice(i, i + MAX_OPS);
      const res = await c.if(store.full(revKey), 'Mod', '==', fence).then(...batch).commit();
      if (!res.succeeded) throw new Error(`config/_revision of region ${this.name} changed under the reconciler`);
    }
    this.state.applied_revision = revision.central_revision;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
