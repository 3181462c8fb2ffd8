import type { Binding, VDomain } from '../../src/core/model/index.js';
import { redactSecrets } from '../../src/core/secrets.js';
import { TokenAuth, type Principal } from './auth.js';
import type { ApiServer } from './server.js';
import { writeRole } from './resources-api.js';
import type { ResourceService } from '../store/resource-service.js';
import { ApplyItemError, applySet, parseApplyRequest, type ApplyItemResult } from '../store/apply-set.js';

/** Values in an answer: secrets shown to admins only, as everywhere in the API. */
function shown(item: ApplyItemResult, p: Principal): ApplyItemResult {
  if (p.role === 'admin') return item;
  return {
    ...item,
    ...(item.before !== undefined ? { before: redactSecrets(item.kind, item.before) } : {}),
    ...(item.after !== undefined ? { after: redactSecrets(item.kind, item.after) } : {}),
  };
}

/**
 * POST /v1/apply: a whole set of resources validated together and written in one etcd
 * transaction (or, with dry_run, only validated). The answer names each resource's result;
 * a dry run also carries the values before and after, which is what `ctl diff` shows.
 */
export function registerApplyApi(api: ApiServer, svc: ResourceService): void {
  api.on('POST', '/v1/apply', 'write', 'apply a set of resources atomically (dry_run, prune)', async (req) => {
    const request = parseApplyRequest(req.body);
    try {
      const out = await applySet(svc, request, req.principal, (kind) => TokenAuth.require(req.principal, writeRole(kind), `write ${kind}`));
      const items = await Promise.all(out.items.map(async (item) => {
        const { before, after, ...rest } = shown(item, req.principal);
        const cname = item.kind === 'bindings' && item.result !== 'deleted' ? await bindingCname(svc, item.after as Binding) : undefined;
        return { ...rest, ...(out.dryRun ? { ...(before !== undefined ? { before } : {}), ...(after !== undefined ? { after } : {}) } : {}), ...(cname ? { cname } : {}) };
      }));
      return { status: 200, headers: { etag: `"${out.revision}"` }, body: { dry_run: out.dryRun, revision: out.revision, items } };
    } catch (err) {
      if (!(err instanceof ApplyItemError)) throw err;
      // The resource's own error, its message prefixed with the resource; a `field` is within that resource.
      return { status: err.error.status, body: { ...err.error.toJSON(), message: err.message, resource: err.resource } };
    }
  });
}

async function bindingCname(svc: ResourceService, b: Binding): Promise<ReturnType<ResourceService['cname']>> {
  const vd = await svc.get<VDomain>('vdomains', b.vdomain);
  return svc.cname(b.domain, vd?.value, b.vdomain);
}
