import { EventEmitter } from 'node:events';
import type { EtcdStore, StoreLease, StoreWatch } from '../../src/core/etcd-store.js';
import { centralKeys } from '../../src/core/keys.js';
import { isMeridianError } from '../../src/core/errors/index.js';
import type { Logger } from '../../src/core/logger.js';
import type { Lifecycle } from '../../src/core/lifecycle.js';

export interface LeaderRecord {
  id: string;
  api: string;
  since: string;
}

/**
 * Leader election on one key (controller/leader) created with compare-and-set under a lease.
 * The holder keeps the lease alive; if it dies, etcd drops the key after the TTL, the
 * followers (watching the key) see the delete and race to create it again. A holder whose
 * lease is lost steps down at once. Emits 'elected' and 'deposed'.
 */
export class LeaderElection extends EventEmitter implements Lifecycle {
  private lease: (StoreLease & { raw: unknown }) | undefined;
  private watch: StoreWatch | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private campaigning = false;
  leading = false;
  current: LeaderRecord | null = null;

  constructor(private readonly store: EtcdStore, private readonly me: LeaderRecord, private readonly ttlS: number, private readonly log: Logger) {
    super();
  }

  async start(): Promise<void> {
    this.stopped = false;
    const rev = await this.store.revision();
    this.watch = await this.store.watch<LeaderRecord>(centralKeys.leader(), rev + 1, (events) => {
      for (const ev of events) {
        if (ev.key !== centralKeys.leader()) continue;
        if (ev.type === 'put') this.current = ev.value;
        else {
          this.current = null;
          this.soon(0);
        }
      }
    });
    await this.campaign();
  }

  private soon(ms: number): void {
    if (this.stopped || this.leading) return;
    if (this.retry) clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.campaign();
    }, ms);
  }

  private async campaign(): Promise<void> {
    if (this.stopped || this.leading || this.campaigning) return;
    this.campaigning = true;
    try {
      const existing = await this.store.get<LeaderRecord>(centralKeys.leader());
      if (existing) {
        this.current = existing.value;
        // The watch reports the delete; this poll is only a safety net.
        this.soon(this.ttlS * 1000);
        return;
      }
      const lease = await this.store.lease(this.ttlS);
      try {
        await this.store.put(centralKeys.leader(), { ...this.me, since: new Date().toISOString() }, { expectRevision: 0, lease: lease.raw });
      } catch (err) {
        await lease.revoke().catch(() => undefined);
        if (isMeridianError(err, 'MERIDIAN_ERR_STORE_CONFLICT')) {
          this.soon(this.ttlS * 1000);
          return;
        }
        throw err;
      }
      this.lease = lease;
      this.leading = true;
      this.current = { ...this.me };
      lease.once('lost', (err: Error) => {
        this.log.warn({ err: err.message }, 'leader lease lost; stepping down');
        this.depose();
        this.soon(500);
      });
      this.log.info({ id: this.me.id }, 'elected leader');
      this.emit('elected');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'leader campaign failed; retrying');
      this.soon(1_000);
    } finally {
      this.campaigning = false;
    }
  }

  private depose(): void {
    if (!this.leading) return;
    this.leading = false;
    this.lease = undefined;
    this.emit('deposed');
  }

  /** Resigns (the lease is revoked: the key disappears and a follower takes over at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    await this.watch?.stop().catch(() => undefined);
    const lease = this.lease;
    this.depose();
    if (lease) await lease.revoke().catch(() => undefined);
  }
}
