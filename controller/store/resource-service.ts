import { isDeepStrictEqual } from 'node:util';
import { RESOURCES, type ResourceKind, type VDomain, type Deployment, type Binding } from '../../src/core/model/index.js';
import { check } from '../../src/core/validate.js';
import { MeridianError } from '../../src/core/errors/index.js';
import type { ResourceStore, Stored, WriteOp, AuditRecord } from './resource-store.js';
import { incoming, outgoing } from './references.js';
import { checkSemantics } from './semantics.js';
import { audit, type Actor } from './audit.js';
import { protectSecrets } from './secrets.js';
import { checkBindingZone, type DnsZones } from '../vdomains/binding-zones.js';
import { invalidBody } from './invalid.js';

export type { Actor } from './audit.js';

export interface WriteResult {
  kind: ResourceKind;
  id: string;
  revision: number;
  result: 'created' | 'updated' | 'unchanged' | 'deleted';
  value?: unknown;
}

/** Singular names for messages: "invalid route: paths: ...". */
export const SINGULAR: Record<ResourceKind, string> = {
  routes: 'route', upstreams: 'upstream', consumers: 'consumer', ssl: 'ssl', global_rules: 'global_rule',
  regions: 'region', vdomains: 'vdomain', bindings: 'binding', deployments: 'deployment',
};

export function isKind(name: string): name is ResourceKind {
  return Object.hasOwn(RESOURCES, name);
}

/**
 * The rules of every resource write, independent of HTTP: schema (with defaults), the id in
 * the URL, semantics, references, optimistic concurrency, idempotence, audit.
 */
export class ResourceService {
  constructor(readonly store: ResourceStore, private readonly zone: string, private readonly delegatedZones: readonly string[] = []) {}

  /** What Meridian DNS serves, as far as bindings go (controller config `zone`, `delegated_zones`). */
  get dnsZones(): DnsZones {
    return { zone: this.zone, delegated: this.delegatedZones };
  }

  get<T>(kind: ResourceKind, id: string): Promise<Stored<T> | undefined> {
    return this.store.get<T>(kind, id);
  }

  async require<T>(kind: ResourceKind, id: string): Promise<Stored<T>> {
    const s = await this.store.get<T>(kind, id);
    if (!s) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_NOT_FOUND', { kind: SINGULAR[kind], id });
    return s;
  }

  list<T>(kind: ResourceKind): Promise<{ revision: number; items: Stored<T>[] }> {
    return this.store.list<T>(kind);
  }

  /** Schema + URL id + semantics; returns the value as it will be stored (defaults applied). */
  validate(kind: ResourceKind, id: string, body: unknown, existing?: Stored): unknown {
    const { schema, key } = RESOURCES[kind];
    const input = typeof body === 'object' && body !== null && !Array.isArray(body) ? { ...(body as Record<string, unknown>) } : body;
    if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
      const rec = input as Record<string, unknown>;
      if (rec[key] === undefined) rec[key] = id;
      else if (rec[key] !== id) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_KEY_MISMATCH', { kind: SINGULAR[kind], field: key, value: String(rec[key]), id }, { field: key });
      this.normalize(kind, id, rec, existing);
    }
    const res = check(schema, input, SINGULAR[kind]);
    if (!res.ok) throw invalidBody(SINGULAR[kind], res);
    checkSemantics(kind, id, res.value);
    if (kind === 'bindings') checkBindingZone((res.value as Binding).domain, this.dnsZones);
    return res.value;
  }

  /** Fields the controller owns, whatever the client sent. */
  private normalize(kind: ResourceKind, id: string, rec: Record<string, unknown>, existing?: Stored): void {
    if (kind === 'vdomains') rec.name = `${id}.${this.zone}`;
    if (kind === 'deployments') {
      // State and history move only through the deployment actions (start, promote, rollback).
      const prev = existing?.value as Deployment | undefined;
      rec.state = prev?.state ?? 'pending';
      rec.step = prev?.step ?? -1;
      rec.history = prev?.history ?? [{ at: new Date().toISOString(), event: 'created' }];
    }
  }

  /**
   * What writing `body` to kind/id would store, checked against what is stored: schema,
   * semantics, secrets kept or hashed, and a started deployment's spec left alone. References
   * and revisions are the caller's (they depend on what else the write holds).
   */
  async prepare(kind: ResourceKind, id: string, body: unknown, existing: Stored | undefined): Promise<{ value: unknown; unchanged: boolean }> {
    const value = await protectSecrets(kind, this.validate(kind, id, body, existing), existing?.value);
    if (existing && isDeepStrictEqual(existing.value, value)) return { value, unchanged: true };
    // Pending and rolled-back deployments touch no traffic: their spec may change (before a restart).
    if (kind === 'deployments' && existing && !['pending', 'rolled_back'].includes((existing.value as Deployment).state)) {
      throw new MeridianError('MERIDIAN_ERR_CONTROLLER_DEPLOY_STATE', { id, state: (existing.value as Deployment).state, action: 'change its spec' });
    }
    return { value, unchanged: false };
  }

  /**
   * Creates or replaces kind/id. `ifMatch`: the revision the client last saw; `createOnly`: fail
   * if it exists (POST). Re-sending what is stored changes nothing and succeeds whatever the
   * If-Match, so a retried PUT is harmless.
   */
  async put(kind: ResourceKind, id: string, body: unknown, actor: Actor, opts: { ifMatch?: number; createOnly?: boolean } = {}): Promise<WriteResult> {
    const existing = await this.store.get(kind, id);
    if (existing && opts.createOnly) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_EXISTS', { kind: SINGULAR[kind], id });
    const { value, unchanged } = await this.prepare(kind, id, body, existing);
    if (existing && unchanged) return { kind, id, revision: existing.revision, result: 'unchanged', value };
    const expectRevision = opts.ifMatch ?? existing?.revision ?? 0;
    if (opts.ifMatch !== undefined && opts.ifMatch !== (existing?.revision ?? 0)) {
      throw new MeridianError('MERIDIAN_ERR_CONTROLLER_CONFLICT', { kind: SINGULAR[kind], id, expected: opts.ifMatch, actual: existing?.revision ?? 0 });
    }
    const refs = outgoing(kind, value);
    for (const r of refs) {
      if (!(await this.store.get(r.kind, r.id))) throw missing(kind, id, r.field, r.kind, r.id);
    }
    const action = existing ? 'update' : 'create';
    const revision = await this.commit([{ kind, id, value, expectRevision }], [audit(actor, { action, kind, id, fromRevision: existing?.revision ?? 0, before: existing?.value, after: value })], refs);
    return { kind, id, revision, result: existing ? 'updated' : 'created', value };
  }

  async delete(kind: ResourceKind, id: string, actor: Actor, opts: { ifMatch?: number } = {}): Promise<WriteResult> {
    const existing = await this.require(kind, id);
    if (opts.ifMatch !== undefined && opts.ifMatch !== existing.revision) {
      throw new MeridianError('MERIDIAN_ERR_CONTROLLER_CONFLICT', { kind: SINGULAR[kind], id, expected: opts.ifMatch, actual: existing.revision });
    }
    // Read the reference mark before scanning the referrers: a reference written after this
    // read moves the mark, and the guarded delete below fails (409) instead of leaving it dangling.
    const mark = refMark(kind, id);
    const markMod = await this.store.mod(mark);
    const by = await incoming(this.store, kind, id);
    if (by.length > 0) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_IN_USE', { kind: SINGULAR[kind], id, by: by.join(', ') });
    const revision = await this.commit([{ kind, id, expectRevision: existing.revision }], [audit(actor, { action: 'delete', kind, id, fromRevision: existing.revision, before: existing.value })], [], { unchanged: [{ key: mark, mod: markMod }], remove: [mark] });
    return { kind, id, revision, result: 'deleted' };
  }

  /** Several writes at once (deployment steps touch a route or vdomain and the deployment). */
  async commit(ops: WriteOp[], records: AuditRecord[], requires: Array<{ kind: ResourceKind; id: string; field?: string }> = [], marks: { unchanged?: Array<{ key: string; mod: number }>; remove?: string[] } = {}): Promise<number> {
    // Every reference written touches its target's mark (see delete).
    const touch = [...new Set(ops.flatMap((op) => (op.value === undefined ? [] : outgoing(op.kind, op.value).map((r) => refMark(r.kind, r.id)))))];
    const res = await this.store.commit(ops, records, requires, { ...marks, touch });
    if (res.ok) return res.revision;
    const f = res.failure;
    if (f.type === 'missing') {
      const op = ops[0] as WriteOp;
      throw missing(op.kind, op.id, requires.find((r) => r.kind === f.kind && r.id === f.id)?.field, f.kind, f.id);
    }
    if (f.op.expectRevision === 0 && f.actual > 0) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_EXISTS', { kind: SINGULAR[f.op.kind], id: f.op.id });
    throw new MeridianError('MERIDIAN_ERR_CONTROLLER_CONFLICT', { kind: SINGULAR[f.op.kind], id: f.op.id, expected: f.op.expectRevision ?? 'any', actual: f.actual < 0 ? 'changed concurrently' : f.actual });
  }

  audit(limit: number): Promise<AuditRecord[]> {
    return this.store.audit(limit);
  }

  /** The CNAME a binding asks the operator to publish. */
  cname(domain: string, vdomain: VDomain | undefined, vdomainId: string): { name: string; type: 'CNAME'; value: string; record: string } {
    const target = `${vdomain?.name ?? `${vdomainId}.${this.zone}`}.`;
    const name = `${domain.replace(/\.$/, '')}.`;
    return { name, type: 'CNAME', value: target, record: `${name} 300 IN CNAME ${target}` };
  }
}

/** A key every writer of a reference to kind/id touches, so a delete can detect a new referrer. */
export function refMark(kind: ResourceKind, id: string): string {
  return `controller/refs/${kind}/${id}`;
}

/** `field`: the referring field; unknown (a reference the write did not declare), the message names the kind referred to. */
export function missing(kind: ResourceKind, id: string, field: string | undefined, refKind: ResourceKind, ref: string): MeridianError {
  return new MeridianError('MERIDIAN_ERR_CONTROLLER_MISSING_REFERENCE', { kind: SINGULAR[kind], id, field: field ?? refKind, refKind: SINGULAR[refKind], ref }, field === undefined ? {} : { field });
}

