import { MeridianError } from '../../src/core/errors/index.js';

/**
 * MERIDIAN_ERR_CONTROLLER_INVALID about one field of a request body: the message names it
 * (`invalid <kind>: <field>: <reason>`) and the answer carries it as `field`, so a client finds
 * the field without reading the message.
 */
export function invalid(kind: string, field: string, reason: string): MeridianError {
  return new MeridianError('MERIDIAN_ERR_CONTROLLER_INVALID', { kind, field, reason }, { field });
}

/**
 * The refusal of a failed schema check (src/core/validate.ts check, run with `kind` as the
 * root): a body refused as a whole (not an object) names the kind and carries no field.
 */
export function invalidBody(kind: string, failure: { field: string; reason: string; path: string }): MeridianError {
  const { field, reason, path } = failure;
  return new MeridianError('MERIDIAN_ERR_CONTROLLER_INVALID', { kind, field, reason }, path === '' ? {} : { field });
}
