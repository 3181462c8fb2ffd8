import { Type, type Static } from '@sinclair/typebox';
import { MeridianError } from '../core/errors/index.js';
import { Strict } from '../core/model/common.js';
import { check } from '../core/validate.js';

/**
 * Body of `POST /admin/discovery/purge` (and of the IPC message the admin listener sends each
 * worker). Every field is optional; given fields must all match; `{}` purges everything.
 */
export const PurgeRequest = Strict({
  service: Type.Optional(Type.String({ minLength: 1, description: 'Consul service name' })),
  datacenter: Type.Optional(Type.String({ minLength: 1, description: 'Consul datacenter' })),
  instance: Type.Optional(Type.String({ minLength: 1, description: 'address:port of one instance (as in the Consul catalog), or a bare address for all its ports' })),
});
export type PurgeRequest = Static<typeof PurgeRequest>;

/** Checks an admin request body; throws MERIDIAN_ERR_DISCOVERY_PURGE_INVALID (HTTP 400) naming the field. */
export function parsePurgeRequest(body: unknown): PurgeRequest {
  const result = check(PurgeRequest, body ?? {}, 'body');
  if (!result.ok) throw new MeridianError('MERIDIAN_ERR_DISCOVERY_PURGE_INVALID', { field: result.field, reason: result.reason });
  return result.value;
}
