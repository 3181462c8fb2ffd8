import { MeridianError, type ErrorParams } from '../../core/errors/index.js';
import type { ShortCircuit } from '../contract.js';

/** A short-circuit answer with the catalogue's status and its `{code, message}` body. */
export function deny(code: string, params: ErrorParams = {}, headers?: Record<string, string>): ShortCircuit {
  const err = new MeridianError(code, params);
  return headers ? { status: err.status, body: err.toJSON(), headers } : { status: err.status, body: err.toJSON() };
}

/** One shared 401 so no auth plugin can leak which part of a credential was wrong. */
export function unauthorized(): ShortCircuit {
  return deny('MERIDIAN_ERR_PLUGIN_UNAUTHORIZED');
}
