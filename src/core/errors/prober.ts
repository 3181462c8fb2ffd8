import { defineErrors } from './catalogue.js';

/** PROBER errors: add entries here only (codes are stable once released). */
export const PROBER_ERRORS = defineErrors('PROBER', {
});
