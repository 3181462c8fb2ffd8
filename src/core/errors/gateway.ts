import { defineErrors } from './catalogue.js';

/** GATEWAY errors: add entries here only (codes are stable once released). */
export const GATEWAY_ERRORS = defineErrors('GATEWAY', {
  MERIDIAN_ERR_GATEWAY_NO_ROUTE: { message: 'no route matches {method} {host}{path}', status: 404 },
  MERIDIAN_ERR_GATEWAY_BAD_REQUEST: { message: 'bad request: {reason}', status: 400 },
  MERIDIAN_ERR_GATEWAY_BODY_TOO_LARGE: { message: 'request body larger than {limit} bytes', status: 413 },
  MERIDIAN_ERR_GATEWAY_HEADERS_TOO_LARGE: { message: 'request headers too large: {reason}', status: 431 },
  MERIDIAN_ERR_GATEWAY_REQUEST_TIMEOUT: { message: 'request not received in time', status: 408 },
  MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR: { message: 'upstream {upstream} failed: {reason}', status: 502 },
  MERIDIAN_ERR_GATEWAY_NO_HEALTHY_NODE: { message: 'upstream {upstream} has no available node', status: 503 },
  MERIDIAN_ERR_GATEWAY_NO_UPSTREAM: { message: 'route {route} has no upstream', status: 503 },
  MERIDIAN_ERR_GATEWAY_UPSTREAM_TIMEOUT: { message: 'upstream {upstream} timed out ({phase})', status: 504 },
  MERIDIAN_ERR_GATEWAY_CONFIG_REJECTED: { message: 'config rejected: {reason}', status: 400 },
  MERIDIAN_ERR_GATEWAY_UNAUTHORIZED: { message: 'admin token missing or wrong', status: 401 },
  MERIDIAN_ERR_GATEWAY_ADMIN_NOT_FOUND: { message: 'no admin endpoint {method} {path}', status: 404 },
  MERIDIAN_ERR_GATEWAY_PURGE_INCOMPLETE: { message: 'purge applied by {applied} of {workers} workers within {ms} ms', status: 504 },
  MERIDIAN_ERR_GATEWAY_PURGE_UNAVAILABLE: { message: 'purge not available: {reason}', status: 503 },
  MERIDIAN_ERR_GATEWAY_ADMIN_FAILED: { message: 'admin request failed: {reason}', status: 500 },
  MERIDIAN_ERR_GATEWAY_SNAPSHOT: { message: 'snapshot file {file}: {reason}', status: 500 },
  /** A config that would silently drop what is served (empty source, no routes, older revision). */
  MERIDIAN_ERR_GATEWAY_CONFIG_UNSAFE: { message: 'config refused: {reason}', status: 409 },
});
