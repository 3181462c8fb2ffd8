import { defineErrors } from './catalogue.js';

/** DNS errors: add entries here only (codes are stable once released). */
export const DNS_ERRORS = defineErrors('DNS', {
  MERIDIAN_ERR_DNS_LISTEN: { message: 'dns cannot listen on {address}: {reason}', status: 500 },
});
