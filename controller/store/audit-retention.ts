import type { EtcdStore } from '../../src/core/etcd-store.js';
import { centralKeys } from '../../src/core/keys.js';
import type { Logger } from '../../src/core/logger.js';
import type { Lifecycle } from '../../src/core/lifecycle.js';

/** Keys deleted per etcd transaction: below etcd's default --max-txn-ops (128). */
export const AUDIT_TRIM_BATCH = 100;

export interface AuditRetention {
  /** Most records kept; the oldest beyond it go. */
  maxRecords: number;
  /** Records older than this go (by the time in their key, which is their `at`). */
  maxAgeMs: number;
}

export interface TrimOptions {
  /** The time records are aged against (default: now). */
  now?: number;
  /** Keys per delete transaction (default AUDIT_TRIM_BATCH). */
  batch?: number;
  /** Checked between batches: false stops the trim where it is (the leader stepped down). */
  keepGoing?: () => boolean;
}

/**
 * Deletes the audit records past the retention, oldest first: those older than maxAgeMs, then
 * the oldest beyond maxRecords. Audit keys are `audit/<ISO time>-<random>`, so key order is
 * time order and "older than" is a key range. Each step reads at most `batch` keys (keys only,
 * never the values) and deletes exactly those in one transaction, so the work and the etcd
 * transaction size stay bounded whatever the backlog. Returns how many records went.
 */
export async function trimAudit(etcd: EtcdStore, r: AuditRetention, opts: TrimOptions = {}): Promise<number> {
  const c = etcd.client;
  const batch = opts.batch ?? AUDIT_TRIM_BATCH;
  const keepGoing = opts.keepGoing ?? (() => true);
  const prefix = etcd.full(centralKeys.audit(''));
  const cutoff = etcd.full(centralKeys.audit(new Date((opts.now ?? Date.now()) - r.maxAgeMs).toISOString()));
  let removed = 0;
  const remove = async (keys: string[]): Promise<void> => {
    // The guard only opens the transaction: if another trimmer already took the first key, this one does nothing and the next read moves on.
    await c.if(keys[0] as string, 'Create', '>', 0).then(...keys.map((k) => c.delete().key(k))).commit();
    removed += keys.length;
  };
  while (keepGoing()) {
    const old = await c.getAll().inRange({ start: prefix, end: cutoff }).sort('Key', 'Ascend').limit(batch).keys();
    if (old.length === 0) break;
    await remove(old);
  }
  while (keepGoing()) {
    const excess = (await c.getAll().prefix(prefix).count()) - r.maxRecords;
    if (excess <= 0) break;
    await remove(await c.getAll().prefix(prefix).sort('Key', 'Ascend').limit(Math.min(excess, batch)).keys());
  }
  return removed;
}

/** The leader's periodic audit trim: once when it starts leading, then every `intervalMs`. */
export class AuditTrimmer implements Lifecycle {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private run: Promise<void> = Promise.resolve();
  private stopped = true;

  constructor(private readonly etcd: EtcdStore, private readonly retention: AuditRetention & { intervalMs: number }, private readonly log: Logger) {}

  async start(): Promise<void> {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.run;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.run = trimAudit(this.etcd, this.retention, { keepGoing: () => !this.stopped })
        .then((n) => { if (n > 0) this.log.info({ removed: n }, 'audit records past retention removed'); })
        .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'audit trim failed (retried at the next interval)'))
        .finally(() => this.schedule(this.retention.intervalMs));
    }, ms);
  }
}
