import { RESOURCES, type ResourceKind } from '../../src/core/model/index.js';
import { MeridianError } from '../../src/core/errors/index.js';
import type { Stored, WriteOp, AuditRecord } from './resource-store.js';
import { holds, incoming, outgoing } from './references.js';
import { audit, type Actor } from './audit.js';
import { SINGULAR, isKind, missing, refMark, type ResourceService } from './resource-service.js';

/** etcd refuses a transaction with more than --max-txn-ops (128 by default) operations in one branch. */
export const APPLY_MAX_TXN_OPS = 128;
/** Most resources one apply names: bounded work per request. */
export const APPLY_MAX_RESOURCES = 2_000;

export interface ApplyRequest {
  resources: Array<{ kind: ResourceKind; spec: Record<string, unknown> }>;
  dryRun: boolean;
  /** Kinds whose stored resources the set does not name are deleted. */
  prune: ResourceKind[];
}

export type ApplyResultKind = 'created' | 'updated' | 'unchanged' | 'deleted';

export interface ApplyItemResult {
  kind: ResourceKind;
  id: string;
  result: ApplyResultKind;
  /** The stored value before (absent when created). */
  before?: unknown;
  /** The value as stored after (absent when deleted). */
  after?: unknown;
}

export interface ApplyOutcome {
  dryRun: boolean;
  /** The store revision written (or read, when nothing was written). */
  revision: number;
  items: ApplyItemResult[];
}

/** A failure that names the resource it came from (the request's index, from 0). */
export class ApplyItemError extends Error {
  constructor(readonly resource: string, readonly error: MeridianError) {
    super(`${resource}: ${error.message}`);
  }
}

/** `field`: the field of the request the refusal is about, when it is one. */
function invalidRequest(reason: string, field?: string): MeridianError {
  return new MeridianError('MERIDIAN_ERR_CONTROLLER_APPLY_INVALID', { reason }, field === undefined ? {} : { field });
}

/** The body of POST /v1/apply: `{ resources: [{kind, spec}], dry_run?, prune?: { kinds } }`. */
export function parseApplyRequest(body: unknown): ApplyRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidRequest('body must be an object with resources');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!['resources', 'dry_run', 'prune'].includes(k)) throw invalidRequest(`unknown field ${k}`, k);
  if (!Array.isArray(b.resources)) throw invalidRequest('resources must be an array', 'resources');
  if (b.resources.length > APPLY_MAX_RESOURCES) throw invalidRequest(`at most ${APPLY_MAX_RESOURCES} resources per apply`, 'resources');
  if (b.dry_run !== undefined && typeof b.dry_run !== 'boolean') throw invalidRequest('dry_run must be a boolean', 'dry_run');
  const resources = b.resources.map((r: unknown, i) => {
    const rec = r as Record<string, unknown> | null;
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) throw invalidRequest(`resources[${i}] must be {kind, spec}`, `resources[${i}]`);
    if (typeof rec.kind !== 'string' || !isKind(rec.kind)) throw invalidRequest(`resources[${i}].kind must be one of ${Object.keys(RESOURCES).join(', ')}`, `resources[${i}].kind`);
    if (typeof rec.spec !== 'object' || rec.spec === null || Array.isArray(rec.spec)) throw invalidRequest(`resources[${i}].spec must be an object`, `resources[${i}].spec`);
    return { kind: rec.kind, spec: rec.spec as Record<string, unknown> };
  });
  let prune: ResourceKind[] = [];
  if (b.prune !== undefined) {
    const kinds = (b.prune as { kinds?: unknown } | null)?.kinds;
    if (!Array.isArray(kinds) || !kinds.every((k): k is ResourceKind => typeof k === 'string' && isKind(k))) throw invalidRequest('prune.kinds must be an array of kinds', 'prune.kinds');
    prune = [...new Set(kinds)];
  }
  return { resources, dryRun: b.dry_run === true, prune };
}

interface Planned {
  kind: ResourceKind;
  id: string;
  existing: Stored | undefined;
  value: unknown;
  unchanged: boolean;
}

const ref = (kind: ResourceKind, id: string) => `${kind}/${id}`;

/**
 * A whole set of resources checked like single PUTs (ResourceService.prepare: schema,
 * semantics, secrets, deployment state), with references resolved against the set itself and
 * the store, optional pruning of what the set no longer names, and every change written in ONE
 * etcd transaction guarded by the revisions read: all of it is written, or none.
 */
export async function applySet(svc: ResourceService, req: ApplyRequest, actor: Actor, authorize: (kind: ResourceKind) => void): Promise<ApplyOutcome> {
  const startRevision = await svc.store.etcd.revision();
  // Each kind involved is read once (one range read), not once per resource.
  const lists = new Map<ResourceKind, Promise<Map<string, Stored>>>();
  const storedOf = (kind: ResourceKind): Promise<Map<string, Stored>> => {
    let list = lists.get(kind);
    if (!list) {
      list = svc.list(kind).then(({ items }) => new Map(items.map((i) => [i.id, i])));
      lists.set(kind, list);
    }
    return list;
  };
  const seen = new Set<string>();
  const planned: Planned[] = [];
  for (const [i, r] of req.resources.entries()) {
    const key = RESOURCES[r.kind].key;
    const id = r.spec[key];
    if (typeof id !== 'string' || id === '') throw invalidRequest(`a ${SINGULAR[r.kind]} needs its ${key}`, `resources[${i}].spec.${key}`);
    const name = ref(r.kind, id);
    if (seen.has(name)) throw invalidRequest(`${name} is named twice`, `resources[${i}]`);
    seen.add(name);
    try {
      const existing = (await storedOf(r.kind)).get(id);
      const { value, unchanged } = await svc.prepare(r.kind, id, r.spec, existing);
      planned.push({ kind: r.kind, id, existing, value, unchanged });
    } catch (err) {
      throw err instanceof MeridianError ? new ApplyItemError(name, err) : err;
    }
  }

  const deletes: Stored[] = [];
  for (const kind of req.prune) {
    for (const item of (await storedOf(kind)).values()) if (!seen.has(ref(kind, item.id))) deletes.push(item);
  }
  const deleted = new Set(deletes.map((d) => ref(d.kind, d.id)));

  // References, against the state after the apply: the set's values, then the store.
  const requires = new Map<string, { kind: ResourceKind; id: string; field: string }>();
  for (const p of planned) {
    for (const r of outgoing(p.kind, p.value)) {
      const target = ref(r.kind, r.id);
      if (seen.has(target)) continue;
      if (deleted.has(target) || !(await storedOf(r.kind)).has(r.id)) throw new ApplyItemError(ref(p.kind, p.id), missing(p.kind, p.id, r.field, r.kind, r.id));
      if (!p.unchanged) requires.set(target, { kind: r.kind, id: r.id, field: r.field });
    }
  }
  const changed = planned.filter((p) => !p.unchanged);
  // Only changes need the kind's write role: re-applying an unchanged region is no write.
  for (const kind of new Set([...changed.map((p) => p.kind), ...deletes.map((d) => d.kind)])) authorize(kind);
  // Before any further read: one put or delete and one audit record per change, plus the
  // reference marks touched and removed; the guards are a branch of their own.
  const touched = new Set(changed.flatMap((p) => outgoing(p.kind, p.value).map((r) => refMark(r.kind, r.id))));
  const writes = (changed.length + deletes.length) * 2 + touched.size + deletes.length;
  const guards = 1 + changed.length + deletes.length + requires.size + deletes.length;
  if (Math.max(writes, guards) > APPLY_MAX_TXN_OPS) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_APPLY_TOO_LARGE', { ops: Math.max(writes, guards), limit: APPLY_MAX_TXN_OPS });

  const marks: Array<{ key: string; mod: number }> = [];
  for (const d of deletes) {
    const mark = refMark(d.kind, d.id);
    marks.push({ key: mark, mod: await svc.store.mod(mark) });
    const by = (await incoming(svc.store, d.kind, d.id)).filter((name) => !deleted.has(name) && !seen.has(name));
    for (const p of planned) {
      if (holds(p.kind, p.value) && outgoing(p.kind, p.value).some((r) => r.kind === d.kind && r.id === d.id)) by.push(ref(p.kind, p.id));
    }
    if (by.length > 0) throw new ApplyItemError(ref(d.kind, d.id), new MeridianError('MERIDIAN_ERR_CONTROLLER_IN_USE', { kind: SINGULAR[d.kind], id: d.id, by: by.join(', ') }));
  }

  const items: ApplyItemResult[] = [
    ...planned.map((p): ApplyItemResult => ({
      kind: p.kind, id: p.id, result: p.unchanged ? 'unchanged' : p.existing ? 'updated' : 'created',
      ...(p.existing ? { before: p.existing.value } : {}), after: p.value,
    })),
    ...deletes.map((d): ApplyItemResult => ({ kind: d.kind, id: d.id, result: 'deleted', before: d.value })),
  ];
  if (changed.length === 0 && deletes.length === 0) return { dryRun: req.dryRun, revision: startRevision, items };

  const ops: WriteOp[] = [
    ...changed.map((p) => ({ kind: p.kind, id: p.id, value: p.value, expectRevision: p.existing?.revision ?? 0 })),
    ...deletes.map((d) => ({ kind: d.kind, id: d.id, expectRevision: d.revision })),
  ];
  if (req.dryRun) return { dryRun: true, revision: startRevision, items };

  const records: AuditRecord[] = [
    ...changed.map((p) => audit(actor, { action: p.existing ? 'update' : 'create', kind: p.kind, id: p.id, fromRevision: p.existing?.revision ?? 0, before: p.existing?.value, after: p.value, detail: 'apply' })),
    ...deletes.map((d) => audit(actor, { action: 'delete', kind: d.kind, id: d.id, fromRevision: d.revision, before: d.value, detail: 'apply --prune' })),
  ];
  const revision = await svc.commit(ops, records, [...requires.values()], { unchanged: marks, remove: marks.map((m) => m.key) });
  return { dryRun: false, revision, items };
}
