import { Type, type Static } from '@sinclair/typebox';
import { EtcdSettings, Strict } from '../src/core/model/index.js';

/** `meridian prober` config file. Every default is stated next to its field. */
export const ProberProgramConfig = Strict({
  name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'prober name, unique (its observations live under health/<name>/)' }),
  region: Type.String({ minLength: 1, description: 'region it probes from' }),
  admin: Type.String({ default: '127.0.0.1:9154', description: 'metrics, status and healthz (default 127.0.0.1:9154)' }),
  etcd: EtcdSettings,
  interval_ms: Type.Integer({ minimum: 100, default: 1_000, description: 'probe interval (default 1000)' }),
  timeout_ms: Type.Integer({ minimum: 50, default: 500, description: 'probe timeout, each of HTTP and TCP (default 500)' }),
  rise: Type.Integer({ minimum: 1, default: 2, description: 'successes to count a node up (default 2)' }),
  fall: Type.Integer({ minimum: 1, default: 2, description: 'failures to count a node down (default 2)' }),
  lease_ttl_s: Type.Integer({ minimum: 2, maximum: 600, default: 5, description: 'lease of its observations: a prober gone for this long stops counting (default 5 s)' }),
  probe_regions: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'regions whose nodes it probes (default []: every region, so DNS has several opinions of each node)' }),
  healthz_path: Type.String({ pattern: '^/', default: '/healthz', description: 'path probed on each node admin URL (default /healthz)' }),
  source_address: Type.Optional(Type.String({ minLength: 2, description: 'local address probes are sent from (default: chosen by the OS)' })),
});
export type ProberProgramConfig = Static<typeof ProberProgramConfig>;
