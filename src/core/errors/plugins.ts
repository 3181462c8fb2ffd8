import { defineErrors } from './catalogue.js';

/** PLUGIN errors: add entries here only (codes are stable once released). */
export const PLUGIN_ERRORS = defineErrors('PLUGIN', {
  MERIDIAN_ERR_PLUGIN_INVALID: { message: 'plugin module {name} is invalid: {reason}', status: 500 },
  MERIDIAN_ERR_PLUGIN_UNKNOWN_PHASE: { message: 'plugin {name} registers unknown phase "{phase}" (phases: {phases})', status: 500 },
  MERIDIAN_ERR_PLUGIN_UNKNOWN: { message: 'unknown plugin "{name}" at {where}', status: 400 },
  MERIDIAN_ERR_PLUGIN_CONFIG: { message: 'plugin {name} at {where}: {field}: {reason}', status: 400 },
  MERIDIAN_ERR_PLUGIN_FAILED: { message: 'plugin {name} failed in phase {phase}', status: 500 },
});
