import { randomUUID } from 'node:crypto';
import { MeridianError, isMeridianError } from '../../src/core/errors/index.js';
import type { ResourceService, Actor, WriteResult } from '../store/resource-service.js';
import { invalid } from '../store/invalid.js';

const TRIES = 5;

/**
 * Allocates <uuid v4>.<zone>. The create is a compare-and-set on "key absent", so two
 * controllers (or a freak UUID collision) can never hand out the same name twice; a clash
 * just draws another UUID.
 */
export async function allocateVDomain(svc: ResourceService, body: unknown, actor: Actor, uuid: () => string = randomUUID): Promise<WriteResult> {
  const spec = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  if (spec.uuid !== undefined) {
    throw invalid('vdomain', 'uuid', 'is allocated by the controller (use PUT /v1/vdomains/<uuid> to change one)');
  }
  for (let i = 0; i < TRIES; i++) {
    const id = uuid();
    try {
      return await svc.put('vdomains', id, { policy: { type: 'nearest' }, ...spec, uuid: id }, actor, { createOnly: true });
    } catch (err) {
      if (!isMeridianError(err, 'MERIDIAN_ERR_CONTROLLER_EXISTS')) throw err;
    }
  }
  throw new MeridianError('MERIDIAN_ERR_CONTROLLER_VDOMAIN_ALLOCATE', { tries: TRIES });
}
