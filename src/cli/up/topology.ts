import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../../core/model/index.js';

/** deploy/local.yaml: the local cluster `meridian up` starts. Every default is stated here. */
export const LocalTopology = Strict({
  base: Type.String({ pattern: '^127\\.[0-9]{1,3}$', default: '127.0', description: 'region i lives on <base>.<i>.0/24 (default 127.0)' }),
  prefix: Type.String({ pattern: '^/', default: '/meridian' }),
  zone: Type.String({ default: 'gw.example.net' }),
  regions: Type.Array(Strict({ name: Type.String({ pattern: '^[a-z][a-z0-9-]*$' }) }), { minItems: 1, maxItems: 4, default: [{ name: 'east' }, { name: 'west' }] }),
  gateways_per_region: Type.Integer({ minimum: 1, maximum: 9, default: 2 }),
  gateway_workers: Type.Integer({ minimum: 1, default: 1, description: 'workers per gateway node (default 1: a laptop runs many nodes)' }),
  gateway_port: Type.Integer({ minimum: 1, maximum: 65535, default: 9080 }),
  gateway_admin_port: Type.Integer({ minimum: 1, maximum: 65535, default: 9091 }),
  dns_port: Type.Integer({ minimum: 1, maximum: 65535, default: 53, description: 'DNS port (default 53; 5353 is used when not root)' }),
  controller_port: Type.Integer({ minimum: 1, maximum: 65535, default: 9180 }),
  admin_token: Type.String({ minLength: 8, default: 'meridian-local-admin', description: 'controller admin token and gateway admin token of the local cluster' }),
  demo: Strict({
    service: Type.String({ default: 'echo' }),
    instances_per_region: Type.Integer({ minimum: 1, maximum: 9, default: 2 }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 8081 }),
    route_path: Type.String({ pattern: '^/', default: '/echo' }),
    business_domain: Type.String({ default: 'api.shop.example' }),
    consumer: Type.String({ default: 'demo' }),
    key: Type.String({ default: 'demo-key' }),
  }),
});
export type LocalTopology = Static<typeof LocalTopology>;

/** Loopback addresses of the topology (the one place they are computed). */
export function addressesOf(t: LocalTopology) {
  const region = (i: number) => `${t.base}.${i + 1}`;
  return {
    centralEtcd: `${t.base}.0.1`,
    controller: `${t.base}.0.1:${t.controller_port}`,
    consul: (i: number) => `${region(i)}.1`,
    etcd: (i: number) => `${region(i)}.2`,
    redis: (i: number) => `${region(i)}.3`,
    prober: (i: number) => `${region(i)}.4`,
    dns: (i: number) => `${region(i)}.53`,
    gateway: (i: number, n: number) => `${region(i)}.${11 + n}`,
    demo: (i: number, n: number) => `${region(i)}.${21 + n}`,
    /** The subnet DNS steering maps to region i. */
    cidr: (i: number) => `${region(i)}.0/24`,
  };
}
