import { Type, type Static } from '@sinclair/typebox';
import { EtcdSettings, HostPort, Strict } from '../core/model/index.js';

/** `meridian gateway` config file. Every default is stated here. */
export const GatewayProgramConfig = Strict({
  node: Strict({
    name: Type.String({ minLength: 1, description: 'node name, unique in its cluster' }),
    cluster: Type.String({ minLength: 1, default: 'default', description: 'gateway cluster (default "default")' }),
    region: Type.String({ minLength: 1, description: 'region this node serves' }),
  }),
  listen: Strict({
    http: Type.Optional(HostPort),
    https: Type.Optional(HostPort),
  }, { description: 'public listeners' }),
  admin: Strict({
    listen: Type.String({ default: '127.0.0.1:9091', description: 'admin listener, never the public port (default 127.0.0.1:9091)' }),
    token_hash: Type.Optional(Type.String({ description: 'sha256 hex of the admin bearer token (purge needs it)' })),
  }),
  workers: Type.Integer({ minimum: 0, default: 0, description: 'worker processes; 0 = one per core (default 0)' }),
  config: Strict({
    source: Type.Union([Type.Literal('etcd'), Type.Literal('file')], { default: 'etcd', description: 'where routes come from (default etcd)' }),
    file: Type.Optional(Type.String({ description: 'YAML data-plane config when source is file' })),
    etcd: Type.Optional(EtcdSettings),
    snapshot_file: Type.Optional(Type.String({ description: 'last-known-good snapshot (default .meridian/<node>.snapshot.json)' })),
  }),
});
export type GatewayProgramConfig = Static<typeof GatewayProgramConfig>;
