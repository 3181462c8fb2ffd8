import { Type } from '@sinclair/typebox';
import { Strict, HostPort } from './common.js';

/** Settings shared by every program's config file. */
export const EtcdSettings = Strict({
  endpoints: Type.Array(Type.String({ pattern: '^https?://' }), { minItems: 1, description: 'etcd client URLs' }),
  prefix: Type.String({ pattern: '^/', default: '/meridian', description: 'key prefix (default /meridian)' }),
  timeout_ms: Type.Integer({ minimum: 100, default: 5_000, description: 'per-call deadline (ms, default 5000)' }),
});

export const HttpListen = HostPort;
