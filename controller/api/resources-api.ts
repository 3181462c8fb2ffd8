import { RESOURCES, type ResourceKind, type VDomain, type Binding } from '../../src/core/model/index.js';
import { redactSecrets } from '../../src/core/secrets.js';
import { MeridianError } from '../../src/core/errors/index.js';
import type { Role } from '../config.js';
import { TokenAuth, type Principal } from './auth.js';
import { bindingWarning } from '../vdomains/binding-zones.js';
import type { ApiServer, Request, Reply } from './server.js';
import type { ResourceService} from '../store/resource-service.js';
import { SINGULAR, isKind, type WriteResult } from '../store/resource-service.js';
import { incoming } from '../store/references.js';
import { invalid } from '../store/invalid.js';

/** Kinds that change the shape of the whole platform (or hold secrets) need the admin role to write. */
const ADMIN_KINDS: ReadonlySet<ResourceKind> = new Set(['regions', 'ssl', 'global_rules']);

export function writeRole(kind: ResourceKind): Role {
  return ADMIN_KINDS.has(kind) ? 'admin' : 'write';
}

export function kindParam(req: Request): ResourceKind {
  const kind = req.params.kind ?? '';
  if (!isKind(kind)) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_NO_ENDPOINT', { method: req.method, path: req.path });
  return kind;
}

/** Most audit records one GET answers: each carries up to 16 KiB of values. */
const AUDIT_LIMIT_MAX = 1_000;

export const etag = (revision: number): string => `"${revision}"`;

/** If-Match: a revision ("12" or 12); "*" means "must exist", answered by the lookup itself. */
export function ifMatch(req: Request): number | undefined {
  const raw = req.headers['if-match'];
  if (raw === undefined || raw === '*') return undefined;
  const v = String(raw).replace(/^W\//, '').replace(/"/g, '').trim();
  if (!/^\d+$/.test(v)) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_BAD_IF_MATCH', { value: String(raw) });
  return Number(v);
}

/** Secrets (private keys, consumer credentials: src/core/secrets.ts) are shown to admins only. */
function redact(kind: ResourceKind, value: unknown, p: Principal): unknown {
  return p.role === 'admin' ? value : redactSecrets(kind, value);
}

export function writeReply(w: WriteResult, p: Principal, extra: Record<string, unknown> = {}): Reply {
  const status = w.result === 'created' ? 201 : 200;
  const value = w.value === undefined ? {} : { value: redact(w.kind, w.value, p) };
  return { status, headers: { etag: etag(w.revision) }, body: { ...w, ...value, ...extra } };
}

/** GET/PUT/POST/DELETE /v1/<kind>[/<id>] for every kind in RESOURCES. */
export function registerResourceApi(api: ApiServer, svc: ResourceService): void {
  const withCname = async (w: WriteResult): Promise<Record<string, unknown>> => {
    if (w.kind !== 'bindings' || !w.value) return {};
    const b = w.value as Binding;
    const vd = await svc.get<VDomain>('vdomains', b.vdomain);
    const cname = svc.cname(b.domain, vd?.value, b.vdomain);
    const warning = bindingWarning(b.domain, svc.dnsZones, cname.record);
    return { cname, ...(warning ? { warning } : {}) };
  };

  api.on('GET', '/v1/:kind', 'read', 'list', async (req) => {
    const kind = kindParam(req);
    const { revision, items } = await svc.list(kind);
    return { status: 200, body: { kind, revision, items: items.map((i) => ({ id: i.id, revision: i.revision, value: redact(kind, i.value, req.principal) })) } };
  });

  api.on('GET', '/v1/:kind/:id', 'read', 'get', async (req) => {
    const kind = kindParam(req);
    const s = await svc.require(kind, req.params.id ?? '');
    return { status: 200, headers: { etag: etag(s.revision), 'x-meridian-revision': String(s.revision) }, body: redact(kind, s.value, req.principal) };
  });

  // What a delete would be refused for (409 while referenced), asked before deleting: the same
  // check the delete runs, so the console's warning and the API's refusal agree.
  api.on('GET', '/v1/:kind/:id/references', 'read', 'what references a resource', async (req) => {
    const kind = kindParam(req);
    const id = req.params.id ?? '';
    await svc.require(kind, id);
    return { status: 200, body: { kind, id, by: await incoming(svc.store, kind, id) } };
  });

  api.on('PUT', '/v1/:kind/:id', 'write', 'put', async (req) => {
    const kind = kindParam(req);
    TokenAuth.require(req.principal, writeRole(kind), `write ${kind}`);
    const createOnly = req.headers['if-none-match'] === '*';
    const expected = ifMatch(req);
    if (req.headers['if-match'] === '*') await svc.require(kind, req.params.id ?? '');
    const w = await svc.put(kind, req.params.id ?? '', req.body, req.principal, { ...(expected !== undefined ? { ifMatch: expected } : {}), createOnly });
    return writeReply(w, req.principal, await withCname(w));
  });

  api.on('POST', '/v1/:kind', 'write', 'create', async (req) => {
    const kind = kindParam(req);
    TokenAuth.require(req.principal, writeRole(kind), `write ${kind}`);
    const keyField = RESOURCES[kind].key;
    const body = req.body as Record<string, unknown> | undefined;
    const id = body && typeof body === 'object' ? body[keyField] : undefined;
    if (typeof id !== 'string') throw invalid(SINGULAR[kind], keyField, 'is required');
    const w = await svc.put(kind, id, req.body, req.principal, { createOnly: true });
    return writeReply(w, req.principal, await withCname(w));
  });

  api.on('DELETE', '/v1/:kind/:id', 'write', 'delete', async (req) => {
    const kind = kindParam(req);
    TokenAuth.require(req.principal, writeRole(kind), `delete ${kind}`);
    const expected = ifMatch(req);
    const w = await svc.delete(kind, req.params.id ?? '', req.principal, expected !== undefined ? { ifMatch: expected } : {});
    return { status: 200, body: w };
  });

  api.on('GET', '/v1/audit', 'admin', 'read the audit log', async (req) => {
    const limit = Math.min(Math.max(Number(req.query.get('limit') ?? 100) || 100, 1), AUDIT_LIMIT_MAX);
    return { status: 200, body: { items: await svc.audit(limit) } };
  });
}
