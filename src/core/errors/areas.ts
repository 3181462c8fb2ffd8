// Every area's table; index.ts merges them into the one catalogue (a repeated code fails at load).
import type { ErrorTable } from './catalogue.js';
import { CORE_ERRORS, STORE_ERRORS, CONSUL_ERRORS, CLI_ERRORS, HARNESS_ERRORS } from './core.js';
import { GATEWAY_ERRORS } from './gateway.js';
import { DISCOVERY_ERRORS } from './discovery.js';
import { PLUGIN_ERRORS } from './plugins.js';
import { CONTROLLER_ERRORS } from './controller.js';
import { DNS_ERRORS } from './dns.js';
import { PROBER_ERRORS } from './prober.js';
import { UPSTREAM_ERRORS } from './upstream.js';
import { HTTP_ERRORS } from './http.js';

export const AREA_TABLES: readonly ErrorTable[] = [
  CORE_ERRORS, STORE_ERRORS, CONSUL_ERRORS, CLI_ERRORS, HARNESS_ERRORS,
  GATEWAY_ERRORS, DISCOVERY_ERRORS, PLUGIN_ERRORS, CONTROLLER_ERRORS, DNS_ERRORS, PROBER_ERRORS,
  UPSTREAM_ERRORS, HTTP_ERRORS,
];
