// Every area's table, re-exported for the merge in index.ts. Add an area: one file, one line here.
export { CORE_ERRORS as CONFIG_AREA_ERRORS, STORE_ERRORS, CONSUL_ERRORS, CLI_ERRORS, HARNESS_ERRORS } from './core.js';
