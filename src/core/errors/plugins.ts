import { defineErrors } from './catalogue.js';

/** PLUGIN errors: add entries here only (codes are stable once released). */
export const PLUGIN_ERRORS = defineErrors('PLUGIN', {
});
