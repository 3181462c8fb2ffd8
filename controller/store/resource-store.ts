import { randomBytes } from 'node:crypto';
import type { EtcdStore } from '../../src/core/etcd-store.js';
import { centralKeys } from '../../src/core/keys.js';
import { MeridianError } from '../../src/core/errors/index.js';
import type { ResourceKind } from '../../src/core/model/index.js';

export interface Stored<T = unknown> {
  kind: ResourceKind;
  id: string;
  value: T;
  /** etcd mod revision: the ETag. */
  revision: number;
}

/** One change in a commit: a put (value given) or a delete (value undefined). */
export interface WriteOp {
  kind: ResourceKind;
  id: string;
  value?: unknown;
  /** The key's mod revision must be this (0: must not exist); omitted: any. */
  expectRevision?: number;
}

export interface AuditRecord {
  at: string;
  who: string;
  role: string;
  action: string;
  kind: string;
  id: string;
  /** Mod revision before the change (0 when created). */
  from_revision?: number;
  detail?: string;
  /** The value before the change, secrets redacted, bounded in size (controller/store/audit.ts). */
  before?: unknown;
  /** The value after the change, the same way. */
  after?: unknown;
  /** The fields an update changed (secrets named, never shown). */
  changed?: string[];
}

export type CommitFailure =
  | { type: 'conflict'; op: WriteOp; actual: number }
  | { type: 'missing'; kind: ResourceKind; id: string };

/**
 * Central etcd access for resources. Every change is one etcd transaction holding the
 * resource writes, the compare-and-set guards and the audit record, so an audit entry exists
 * exactly when the change does, and a reference checked at write time cannot vanish between
 * the check and the write.
 */
export class ResourceStore {
  constructor(readonly etcd: EtcdStore) {}

  async get<T>(kind: ResourceKind, id: string): Promise<Stored<T> | undefined> {
    const e = await this.etcd.get<T>(centralKeys.resource(kind, id));
    return e ? { kind, id, value: e.value, revision: e.modRevision } : undefined;
  }

  async list<T>(kind: ResourceKind): Promise<{ revision: number; items: Stored<T>[] }> {
    const snap = await this.etcd.snapshot<T>(centralKeys.resources(kind));
    const items = [...snap.entries.values()].map((e) => ({ kind, id: e.key.slice(kind.length + 1), value: e.value, revision: e.modRevision }));
    items.sort((a, b) => a.id.localeCompare(b.id));
    return { revision: snap.revision, items };
  }

  /**
   * Applies `ops` atomically with `audit`, provided every guard holds: each op's expected
   * revision, and each of `requires` exists. Returns the new store revision, or why it failed.
   */
  async commit(
    ops: WriteOp[],
    audit: AuditRecord[],
    requires: Array<{ kind: ResourceKind; id: string }> = [],
    marks: { touch?: string[]; unchanged?: Array<{ key: string; mod: number }>; remove?: string[] } = {},
  ): Promise<{ ok: true; revision: number } | { ok: false; failure: CommitFailure }> {
    const c = this.etcd.client;
    const auditKeys = audit.map((a) => this.etcd.full(centralKeys.audit(`${a.at}-${randomBytes(4).toString('hex')}`)));
    // The audit keys are new and unique: "does not exist yet" is always true and gives the txn its first guard.
    let txn = c.if(auditKeys[0] ?? this.etcd.full('controller/txn-guard'), 'Create', '==', 0);
    for (const op of ops) {
      if (op.expectRevision !== undefined) txn = txn.and(this.etcd.full(centralKeys.resource(op.kind, op.id)), 'Mod', '==', op.expectRevision);
    }
    for (const r of requires) txn = txn.and(this.etcd.full(centralKeys.resource(r.kind, r.id)), 'Version', '>', 0);
    for (const g of marks.unchanged ?? []) txn = txn.and(this.etcd.full(g.key), 'Mod', '==', g.mod);
    const writes = ops.map((op) => {
      const key = this.etcd.full(centralKeys.resource(op.kind, op.id));
      return op.value === undefined ? c.delete().key(key) : c.put(key).value(JSON.stringify(op.value));
    });
    for (const key of marks.touch ?? []) writes.push(c.put(this.etcd.full(key)).value('1'));
    for (const key of marks.remove ?? []) writes.push(c.delete().key(this.etcd.full(key)));
    const auditWrites = audit.map((a, i) => c.put(auditKeys[i] as string).value(JSON.stringify(a)));
    let res;
    try {
      res = await txn.then(...writes, ...auditWrites).commit();
    } catch (err) {
      throw new MeridianError('MERIDIAN_ERR_STORE_UNAVAILABLE', { reason: (err as Error).message }, { cause: err });
    }
    if (res.succeeded) return { ok: true, revision: Number(res.header.revision) };
    // Find which guard failed (read after the fact: good enough to name the cause).
    for (const op of ops) {
      if (op.expectRevision === undefined) continue;
      const cur = await this.get(op.kind, op.id);
      const actual = cur?.revision ?? 0;
      if (actual !== op.expectRevision) return { ok: false, failure: { type: 'conflict', op, actual } };
    }
    for (const r of requires) {
      if (!(await this.get(r.kind, r.id))) return { ok: false, failure: { type: 'missing', kind: r.kind, id: r.id } };
    }
    // Everything holds now: a concurrent change came and went; report it as a conflict.
    const first = ops[0] as WriteOp;
    return { ok: false, failure: { type: 'conflict', op: first, actual: -1 } };
  }

  /** Mod revision of a plain key (0 when absent). */
  async mod(key: string): Promise<number> {
    return (await this.etcd.get(key))?.modRevision ?? 0;
  }

  /**
   * The newest `limit` audit records, oldest first. Only those are read: records carry values
   * now (up to 2 x 8 KiB each); the leader trims the log to the configured retention
   * (audit-retention.ts).
   */
  async audit(limit: number): Promise<AuditRecord[]> {
    let res: Record<string, string>;
    try {
      res = await this.etcd.client.getAll().prefix(this.etcd.full(centralKeys.audit(''))).sort('Key', 'Descend').limit(limit).strings();
    } catch (err) {
      throw new MeridianError('MERIDIAN_ERR_STORE_UNAVAILABLE', { reason: (err as Error).message }, { cause: err });
    }
    return Object.keys(res).sort().map((k) => JSON.parse(res[k] as string) as AuditRecord);
  }
}
