import { defineErrors } from './catalogue.js';

/** CONTROLLER errors: add entries here only (codes are stable once released). */
export const CONTROLLER_ERRORS = defineErrors('CONTROLLER', {
  MERIDIAN_ERR_CONTROLLER_UNAUTHORIZED: { message: 'missing or invalid bearer token', status: 401 },
  MERIDIAN_ERR_CONTROLLER_FORBIDDEN: { message: 'token {who} has role {role}; {action} needs role {needed}', status: 403 },
  MERIDIAN_ERR_CONTROLLER_NO_ENDPOINT: { message: 'no API endpoint {method} {path}', status: 404 },
  MERIDIAN_ERR_CONTROLLER_NOT_FOUND: { message: '{kind} {id} not found', status: 404 },
  MERIDIAN_ERR_CONTROLLER_BAD_JSON: { message: 'request body is not valid JSON: {reason}', status: 400 },
  MERIDIAN_ERR_CONTROLLER_JSON_TOO_DEEP: { message: 'request body nests objects and arrays deeper than {limit} levels', status: 400 },
  MERIDIAN_ERR_CONTROLLER_BODY_TOO_LARGE: { message: 'request body larger than {limit} bytes', status: 413 },
  MERIDIAN_ERR_CONTROLLER_INVALID: { message: 'invalid {kind}: {field}: {reason}', status: 400 },
  MERIDIAN_ERR_CONTROLLER_KEY_MISMATCH: { message: 'invalid {kind}: {field} "{value}" does not match the id "{id}" in the URL', status: 400 },
  MERIDIAN_ERR_CONTROLLER_BAD_IF_MATCH: { message: 'If-Match must be a revision number, got {value}', status: 400 },
  MERIDIAN_ERR_CONTROLLER_MISSING_REFERENCE: { message: 'invalid {kind} {id}: {field} refers to {refKind} {ref}, which does not exist', status: 400 },
  MERIDIAN_ERR_CONTROLLER_EXISTS: { message: '{kind} {id} already exists', status: 409 },
  MERIDIAN_ERR_CONTROLLER_CONFLICT: { message: '{kind} {id} was changed: If-Match {expected}, current revision {actual}', status: 409 },
  MERIDIAN_ERR_CONTROLLER_IN_USE: { message: 'cannot delete {kind} {id}: referenced by {by}', status: 409 },
  MERIDIAN_ERR_CONTROLLER_VDOMAIN_ALLOCATE: { message: 'could not allocate a unique virtual domain after {tries} tries', status: 503 },
  MERIDIAN_ERR_CONTROLLER_DEPLOY_INVALID: { message: 'invalid deployment {id}: {reason}', status: 400 },
  MERIDIAN_ERR_CONTROLLER_DEPLOY_STATE: { message: 'deployment {id} is {state}: cannot {action}', status: 409 },
  MERIDIAN_ERR_CONTROLLER_DEPLOY_BUSY: { message: 'deployment {other} is already active on {target}', status: 409 },
  MERIDIAN_ERR_CONTROLLER_UNKNOWN_DATACENTER: { message: 'no region has Consul datacenter {datacenter}', status: 400 },
  MERIDIAN_ERR_CONTROLLER_DRAIN_INCOMPLETE: { message: 'drain of {service}/{instance}: {count} gateway node(s) did not ack within {deadline} ms: {nodes}', status: 504 },
  MERIDIAN_ERR_CONTROLLER_INTERNAL: { message: 'internal error: {reason}', status: 500 },
  MERIDIAN_ERR_CONTROLLER_CTL_UNREACHABLE: { message: 'controller at {url} unreachable: {reason}', status: 503 },
  MERIDIAN_ERR_CONTROLLER_CTL_FILE: { message: '{file}: document {index}: {reason}', status: 400 },
});
