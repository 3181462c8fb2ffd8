import type { PoolSettings } from '../pools.js';
import type { ResolvedTimeouts } from '../runtime.js';
import type { Http1PoolOptions } from './types.js';

/**
 * The options of an Http1Pool from the settings the gateway already resolves per node
 * (PoolSettings: keepalive.connections, keepalive.idle_timeout, timeout.connect) and the
 * upstream's timeouts (send and read are per-request defaults; routes override them per
 * request through Http1Request.sendTimeout/readTimeout).
 */
export function http1PoolOptions(s: PoolSettings, timeouts: ResolvedTimeouts): Http1PoolOptions {
  if (s.scheme !== 'http') throw new Error('Http1Pool serves plain-HTTP upstream nodes only; https stays on undici');
  return {
    host: s.host,
    port: s.port,
    connections: s.connections,
    keepAliveTimeout: s.idleTimeoutMs,
    timeouts: { connect: s.connectTimeoutMs, send: timeouts.send, read: timeouts.read },
  };
}
