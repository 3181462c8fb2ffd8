import type { ApiServer } from './server.js';
import type { ResourceService } from '../store/resource-service.js';
import { allocateVDomain } from '../vdomains/allocate.js';
import { writeReply } from './resources-api.js';

/** POST /v1/vdomains allocates the name; the rest of the CRUD is the generic one. */
export function registerVDomainApi(api: ApiServer, svc: ResourceService): void {
  api.on('POST', '/v1/vdomains', 'write', 'allocate a virtual domain', async (req) => {
    const w = await allocateVDomain(svc, req.body, req.principal);
    return writeReply(w, req.principal);
  });
}
