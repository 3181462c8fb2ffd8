import { defineErrors } from './catalogue.js';

/** DISCOVERY errors: add entries here only (codes are stable once released). */
export const DISCOVERY_ERRORS = defineErrors('DISCOVERY', {
  MERIDIAN_ERR_DISCOVERY_TIMEOUT: { message: 'consul DNS {server} did not answer {name} over {transport} within {ms} ms', status: 504 },
  MERIDIAN_ERR_DISCOVERY_UNAVAILABLE: { message: 'consul DNS {server} unreachable over {transport}: {reason}', status: 503 },
  MERIDIAN_ERR_DISCOVERY_MALFORMED: { message: 'malformed DNS answer from {server} for {name} over {transport}: {reason}', status: 502 },
  MERIDIAN_ERR_DISCOVERY_RCODE: { message: 'consul DNS {server} answered {name} with rcode {rcode}', status: 502 },
  MERIDIAN_ERR_DISCOVERY_NO_INSTANCES: { message: 'no passing instance of {service} in {datacenters}', status: 503 },
  MERIDIAN_ERR_DISCOVERY_PURGE_INVALID: { message: 'invalid purge request: {field}: {reason}', status: 400 },
  MERIDIAN_ERR_DISCOVERY_STOPPED: { message: 'discovery manager is stopped', status: 503 },
});
