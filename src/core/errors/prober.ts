import { defineErrors } from './catalogue.js';

/** PROBER errors: add entries here only (codes are stable once released). */
export const PROBER_ERRORS = defineErrors('PROBER', {
  MERIDIAN_ERR_PROBER_ADMIN: { message: 'prober cannot listen on {address}: {reason}', status: 500 },
  MERIDIAN_ERR_PROBER_LEASE: { message: 'prober {name} cannot get an etcd lease: {reason}', status: 503 },
});
