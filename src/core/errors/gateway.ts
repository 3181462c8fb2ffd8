import { defineErrors } from './catalogue.js';

/** GATEWAY errors: add entries here only (codes are stable once released). */
export const GATEWAY_ERRORS = defineErrors('GATEWAY', {
});
