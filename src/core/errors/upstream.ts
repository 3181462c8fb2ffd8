import { defineErrors } from './catalogue.js';

/**
 * UPSTREAM errors: the gateway's own HTTP/1.1 client to plain-HTTP upstream nodes
 * (src/upstream/http1). The gateway answers them as MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR (502)
 * or MERIDIAN_ERR_GATEWAY_UPSTREAM_TIMEOUT (504, with the same phase); the statuses here say
 * which. Add entries here only (codes are stable once released).
 */
export const UPSTREAM_ERRORS = defineErrors('UPSTREAM', {
  MERIDIAN_ERR_UPSTREAM_CONNECT_FAILED: { message: 'upstream node {node}: cannot connect: {reason}', status: 502 },
  MERIDIAN_ERR_UPSTREAM_CONNECT_TIMEOUT: { message: 'upstream node {node}: not connected within {ms} ms', status: 504 },
  MERIDIAN_ERR_UPSTREAM_SEND_TIMEOUT: { message: 'upstream node {node}: request not sent, no progress for {ms} ms', status: 504 },
  MERIDIAN_ERR_UPSTREAM_READ_TIMEOUT: { message: 'upstream node {node}: no response data for {ms} ms', status: 504 },
  MERIDIAN_ERR_UPSTREAM_CONNECTION_CLOSED: { message: 'upstream node {node} closed the connection {when}: {reason}', status: 502 },
  MERIDIAN_ERR_UPSTREAM_BAD_RESPONSE: { message: 'upstream node {node} sent an invalid response: {reason}', status: 502 },
  MERIDIAN_ERR_UPSTREAM_HEAD_TOO_LARGE: { message: 'upstream node {node} sent a response head over {limit} bytes', status: 502 },
  MERIDIAN_ERR_UPSTREAM_BAD_REQUEST: { message: 'request cannot be sent to upstream node {node}: {reason}', status: 500 },
  MERIDIAN_ERR_UPSTREAM_POOL_CLOSED: { message: 'connection pool of upstream node {node} is closed', status: 503 },
});
