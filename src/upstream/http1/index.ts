export { Http1Pool, HTTP1_DEFAULTS } from './pool.js';
export { requestStream, type StreamCallbacks } from './body-stream.js';
export { Http1Error, gatewayErrorOf, type Http1Phase, type Http1ErrorFacts } from './errors.js';
export type { Http1Exchange, Http1Handler, Http1PoolOptions, Http1PoolStats, Http1Request, Http1Timeouts } from './types.js';
export { http1PoolOptions } from './settings.js';
