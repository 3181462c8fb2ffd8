import { defineErrors } from './catalogue.js';

/** DISCOVERY errors: add entries here only (codes are stable once released). */
export const DISCOVERY_ERRORS = defineErrors('DISCOVERY', {
});
