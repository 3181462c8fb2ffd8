import { Type, type Static } from '@sinclair/typebox';
import { EtcdSettings, Strict } from '../src/core/model/index.js';

/** `meridian controller` config file. */
export const ControllerProgramConfig = Strict({
  listen: Type.String({ default: '127.0.0.1:9180', description: 'admin API listener (default 127.0.0.1:9180)' }),
  etcd: EtcdSettings,
  tokens: Type.Array(Strict({
    name: Type.String({ minLength: 1, description: 'who: recorded in the audit log' }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'sha256 hex of the bearer token' }),
    role: Type.Union([Type.Literal('read'), Type.Literal('write'), Type.Literal('admin')]),
  }), { default: [], description: 'API tokens (hashes only)' }),
  zone: Type.String({ default: 'gw.example.net', description: 'virtual domain zone (default gw.example.net)' }),
});
export type ControllerProgramConfig = Static<typeof ControllerProgramConfig>;
