import { defineErrors } from './catalogue.js';

/** PLUGIN errors: add entries here only (codes are stable once released). */
export const PLUGIN_ERRORS = defineErrors('PLUGIN', {
  MERIDIAN_ERR_PLUGIN_INVALID: { message: 'plugin module {name} is invalid: {reason}', status: 500 },
  MERIDIAN_ERR_PLUGIN_UNKNOWN_PHASE: { message: 'plugin {name} registers unknown phase "{phase}" (phases: {phases})', status: 500 },
  MERIDIAN_ERR_PLUGIN_UNKNOWN: { message: 'unknown plugin "{name}" at {where}', status: 400 },
  MERIDIAN_ERR_PLUGIN_CONFIG: { message: 'plugin {name} at {where}: {field}: {reason}', status: 400 },
  MERIDIAN_ERR_PLUGIN_FAILED: { message: 'plugin {name} failed in phase {phase}', status: 500 },
  // Answers plugins send to clients: deliberately vague (a 401 never says which part failed).
  MERIDIAN_ERR_PLUGIN_UNAUTHORIZED: { message: 'unauthorized', status: 401 },
  MERIDIAN_ERR_PLUGIN_FORBIDDEN: { message: 'forbidden', status: 403 },
  MERIDIAN_ERR_PLUGIN_REPLAYED: { message: 'request replayed or outside its time window', status: 401 },
  MERIDIAN_ERR_PLUGIN_RATE_LIMITED: { message: 'too many requests', status: 429 },
  MERIDIAN_ERR_PLUGIN_TOO_MANY_CONNECTIONS: { message: 'too many concurrent requests', status: 429 },
  MERIDIAN_ERR_PLUGIN_CIRCUIT_OPEN: { message: 'upstream {upstream} is unavailable (circuit {breaker} open)', status: 503 },
  MERIDIAN_ERR_PLUGIN_BODY_TOO_LARGE: { message: 'request body larger than {limit} bytes', status: 413 },
  MERIDIAN_ERR_PLUGIN_UNAVAILABLE: { message: 'service temporarily unavailable', status: 503 },
  // jwt-auth: the token's signing keys (a JWKS) were never fetched; the token was not judged.
  MERIDIAN_ERR_PLUGIN_JWKS_UNAVAILABLE: { message: 'token signing keys are unavailable, retry later', status: 503 },
  MERIDIAN_ERR_PLUGIN_AUTH_BUSY: { message: 'too many password checks in progress, retry later', status: 429 },
  MERIDIAN_ERR_PLUGIN_REPLAY_UNSIGNED: { message: 'the request signature must cover the {header} header', status: 401 },
  // Config time: anti-replay beside hmac-auth whose enforced signed headers miss the nonce or timestamp.
  MERIDIAN_ERR_PLUGIN_REPLAY_HEADER_NOT_SIGNED: { message: 'plugin anti-replay at {where}: hmac-auth must enforce signing {header} (add "{header}" to hmac-auth enforce_headers): a signature that does not cover it can be replayed with a fresh one', status: 400 },
});
