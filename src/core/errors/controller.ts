import { defineErrors } from './catalogue.js';

/** CONTROLLER errors: add entries here only (codes are stable once released). */
export const CONTROLLER_ERRORS = defineErrors('CONTROLLER', {
});
