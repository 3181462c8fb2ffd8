import type { Logger } from '../core/logger.js';
import type { EtcdStore, StoreLease } from '../core/etcd-store.js';
import { regionalKeys, type NodeRegistration } from '../core/keys.js';

/**
 * The node's self-registration in the regional etcd, under a lease: if the node dies the key
 * expires and the controller stops counting it. Re-registers by itself when the lease is
 * lost (etcd restarted or unreachable for longer than the TTL).
 */
export class NodeRegistrar {
  private lease: StoreLease | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private busy = false;
  private dirty = false;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly store: EtcdStore,
    private readonly ttlS: number,
    private registration: NodeRegistration,
    private readonly log: Logger,
  ) {}

  get key(): string {
    return regionalKeys.node(this.registration.cluster, this.registration.name);
  }

  start(): void {
    void this.register();
  }

  private async register(): Promise<void> {
    if (this.stopped || this.busy) return;
    this.busy = true;
    try {
      if (!this.lease) {
        const lease = await this.store.lease(this.ttlS);
        lease.on('lost', () => {
          if (this.lease !== lease) return;
          this.log.warn({ key: this.key }, 'registration lease lost; registering again');
          this.lease = undefined;
          this.schedule();
        });
        this.lease = lease;
      }
      await this.lease.put(this.key, this.registration);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'node registration failed; retrying');
      this.lease?.release();
      this.lease = undefined;
      this.schedule();
    } finally {
      this.busy = false;
    }
  }

  private schedule(): void {
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.register();
    }, 1_000);
  }

  /** New applied config revision: the registration says what the node serves. */
  update(patch: Partial<NodeRegistration>): void {
    this.registration = { ...this.registration, ...patch };
    if (!this.lease) return; // register() writes the latest registration when it gets its lease
    this.dirty = true;
    if (!this.writing) this.writing = this.flush().finally(() => (this.writing = undefined));
  }

  /**
   * One write at a time, always of the latest registration: two puts in flight together may
   * land in either order, and the older revision must not win.
   */
  private async flush(): Promise<void> {
    while (this.dirty && this.lease) {
      this.dirty = false;
      try {
        await this.lease.put(this.key, this.registration);
      } catch {
        this.schedule();
        return;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    await this.lease?.revoke().catch(() => undefined);
    this.lease = undefined;
  }
}
