import { Type, type Static } from '@sinclair/typebox';
import { EtcdSettings, HostPort, Strict } from '../src/core/model/index.js';

/** `meridian dns` config file. */
export const DnsProgramConfig = Strict({
  listen: HostPort,
  admin: Type.String({ default: '127.0.0.1:9153', description: 'metrics and healthz (default 127.0.0.1:9153)' }),
  zone: Type.String({ default: 'gw.example.net', description: 'zone served (default gw.example.net)' }),
  etcd: EtcdSettings,
  snapshot_file: Type.Optional(Type.String()),
});
export type DnsProgramConfig = Static<typeof DnsProgramConfig>;
