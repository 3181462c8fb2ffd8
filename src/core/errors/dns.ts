import { defineErrors } from './catalogue.js';

/** DNS errors: add entries here only (codes are stable once released). */
export const DNS_ERRORS = defineErrors('DNS', {
});
