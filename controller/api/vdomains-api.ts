import type { Region, VDomain } from '../../src/core/model/index.js';
import type { ApiServer } from './server.js';
import type { ResourceService } from '../store/resource-service.js';
import { allocateVDomain } from '../vdomains/allocate.js';
import { answerFor, type DnsAsker } from '../vdomains/dns-answer.js';
import { writeReply } from './resources-api.js';
import { invalid } from '../store/invalid.js';

/**
 * POST /v1/vdomains allocates the name; GET /v1/vdomains/{id}/answer asks the DNS servers what a
 * client in a region gets; the rest of the CRUD is the generic one.
 */
export function registerVDomainApi(api: ApiServer, svc: ResourceService, opts: { zone: string; dns: DnsAsker }): void {
  api.on('POST', '/v1/vdomains', 'write', 'allocate a virtual domain', async (req) => {
    const w = await allocateVDomain(svc, req.body, req.principal);
    return writeReply(w, req.principal);
  });

  api.on('GET', '/v1/vdomains/:id/answer', 'read', 'what a client in ?region=<name> gets: the DNS servers\' answer for the virtual domain, asked with the region\'s client subnet (ECS)', async (req) => {
    const region = req.query.get('region');
    if (!region) throw invalid('answer query', 'region', 'is required (?region=<name>)');
    const vdomain = await svc.require<VDomain>('vdomains', req.params.id ?? '');
    const r = await svc.require<Region>('regions', region);
    return { status: 200, body: await answerFor(opts.dns, { vdomain: { id: vdomain.id, value: vdomain.value }, zone: opts.zone, region: r.value }) };
  });
}
