import { Type, type Static } from '@sinclair/typebox';
import { Strict, Id, Hostname, Cidr, PluginMap, HostPort } from './common.js';

export const Consumer = Strict({
  username: Id,
  plugins: Type.Optional(PluginMap),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
});

export const Ssl = Strict({
  id: Id,
  snis: Type.Array(Hostname, { minItems: 1, description: 'server names (exact or *.wildcard)' }),
  cert: Type.String({ minLength: 1, description: 'PEM certificate chain' }),
  key: Type.String({ minLength: 1, description: 'PEM private key' }),
  default_for_ports: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), { description: 'served to clients that send no SNI on these ports' })),
});

export const GlobalRule = Strict({ id: Id, plugins: PluginMap });

export const GatewayNodeRef = Strict({
  name: Id,
  address: Type.String({ minLength: 1, description: 'public IP the DNS answers with' }),
  port: Type.Integer({ minimum: 1, maximum: 65535, default: 80, description: 'public port (default 80)' }),
  admin: Type.String({ pattern: '^https?://', description: 'admin listener URL (healthz, purge)' }),
});

export const Cluster = Strict({
  name: Id,
  threshold: Type.Integer({ minimum: 0, default: 1, description: 'fewer healthy nodes than this and the cluster is out (default 1)' }),
  weight: Type.Integer({ minimum: 0, default: 1 }),
  isp: Type.Optional(Type.String({ minLength: 1, description: 'ISP line this cluster serves (DNS prefers it for clients of that ISP); none = any' })),
  nodes: Type.Array(GatewayNodeRef, { default: [] }),
});

export const Region = Strict({
  name: Id,
  failover: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'other regions, nearest first' }),
  drained: Type.Boolean({ default: false, description: 'operator drain: DNS answers from the next region' }),
  cidrs: Type.Array(Strict({ cidr: Cidr, isp: Type.Optional(Type.String({ minLength: 1 })) }), { default: [], description: 'client subnets located in this region' }),
  clusters: Type.Array(Cluster, { default: [] }),
  etcd: Type.Optional(Strict({ endpoints: Type.Array(Type.String({ pattern: '^https?://' }), { minItems: 1 }) })),
  consul: Type.Optional(Strict({ http: Type.String({ pattern: '^https?://' }), dns: HostPort, datacenter: Type.String({ minLength: 1 }) })),
});

export const VDomainPolicy = Strict({
  type: Type.Union([Type.Literal('nearest'), Type.Literal('pinned'), Type.Literal('weighted'), Type.Literal('failover')], { default: 'nearest' }),
  regions: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'pinned: only these regions; failover: this order' })),
  clusters: Type.Optional(Type.Array(Type.String({ pattern: '^[^/]+/[^/]+$' }), { description: 'pinned: only these region/cluster pairs' })),
  weights: Type.Optional(Type.Record(Type.String({ pattern: '^[^/]+/[^/]+$' }), Type.Integer({ minimum: 0 }), { description: 'weighted: region/cluster -> weight' })),
});

export const VDomain = Strict({
  uuid: Type.String({ maxLength: 36, pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' }),
  name: Type.Optional(Type.String({ description: 'full name, <uuid>.<zone>' })),
  policy: VDomainPolicy,
  records: Type.Integer({ minimum: 1, maximum: 16, default: 2, description: 'A records per answer (default 2)' }),
  backup_records: Type.Optional(Type.Integer({
    minimum: 0, maximum: 4,
    description: 'healthy nodes of the next region appended after the primary records (default 0): clients that try addresses in order reach them only when every primary address fails, so a region outage costs a retry, not an error, while probers detect it',
  })),
  ttl: Type.Integer({ minimum: 0, maximum: 86_400, default: 5, description: 'answer TTL in seconds (default 5)' }),
  description: Type.Optional(Type.String()),
});

export const Binding = Strict({
  domain: Hostname,
  vdomain: Type.String({ minLength: 1, description: 'uuid of the virtual domain' }),
});

export const DeploymentStep = Type.Integer({ minimum: 0, maximum: 100, description: 'share of traffic on the new side, percent' });

export const Deployment = Strict({
  id: Id,
  kind: Type.Union([Type.Literal('gateway'), Type.Literal('backend')], { description: 'gateway: vdomain traffic between clusters; backend: route traffic between upstreams' }),
  vdomain: Type.Optional(Type.String({ minLength: 1 })),
  route: Type.Optional(Id),
  from: Type.String({ minLength: 1, description: 'current side: region/cluster or upstream id' }),
  to: Type.String({ minLength: 1, description: 'new side: region/cluster or upstream id' }),
  steps: Type.Array(DeploymentStep, { minItems: 1, default: [5, 25, 100] }),
  step: Type.Integer({ minimum: -1, default: -1, description: 'index of the current step; -1 = not started' }),
  interval_s: Type.Optional(Type.Integer({ minimum: 1, description: 'advance automatically every N seconds' })),
  match: Type.Optional(Strict({ header: Type.Optional(Type.String()), cookie: Type.Optional(Type.String()), value: Type.String() })),
  rollback: Type.Optional(Strict({ error_rate: Type.Number({ minimum: 0, maximum: 1, default: 0.05 }), min_requests: Type.Integer({ minimum: 1, default: 50 }) })),
  state: Type.Union([Type.Literal('pending'), Type.Literal('running'), Type.Literal('promoted'), Type.Literal('rolled_back')], { default: 'pending' }),
  history: Type.Array(Strict({ at: Type.String(), event: Type.String(), detail: Type.Optional(Type.String()) }), { default: [] }),
});

export type Consumer = Static<typeof Consumer>;
export type Ssl = Static<typeof Ssl>;
export type GlobalRule = Static<typeof GlobalRule>;
export type GatewayNodeRef = Static<typeof GatewayNodeRef>;
export type Cluster = Static<typeof Cluster>;
export type Region = Static<typeof Region>;
export type VDomainPolicy = Static<typeof VDomainPolicy>;
export type VDomain = Static<typeof VDomain>;
export type Binding = Static<typeof Binding>;
export type Deployment = Static<typeof Deployment>;
