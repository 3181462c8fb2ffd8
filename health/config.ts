import { Type, type Static } from '@sinclair/typebox';
import { EtcdSettings, Strict } from '../src/core/model/index.js';

/** `meridian prober` config file. */
export const ProberProgramConfig = Strict({
  name: Type.String({ minLength: 1, description: 'prober name, unique' }),
  region: Type.String({ minLength: 1, description: 'region it probes from' }),
  admin: Type.String({ default: '127.0.0.1:9154', description: 'metrics, status and healthz (default 127.0.0.1:9154)' }),
  etcd: EtcdSettings,
  interval_ms: Type.Integer({ minimum: 100, default: 1_000, description: 'probe interval (default 1000)' }),
  timeout_ms: Type.Integer({ minimum: 50, default: 500, description: 'probe timeout (default 500)' }),
  rise: Type.Integer({ minimum: 1, default: 2, description: 'successes to count a node up (default 2)' }),
  fall: Type.Integer({ minimum: 1, default: 2, description: 'failures to count a node down (default 2)' }),
});
export type ProberProgramConfig = Static<typeof ProberProgramConfig>;
