import { Type, type Static } from '@sinclair/typebox';
import { Strict, Id, Millis, PluginMap } from './common.js';

export const UpstreamNode = Strict({
  host: Type.String({ minLength: 1, description: 'IP address or host name' }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  weight: Type.Integer({ minimum: 0, maximum: 65535, default: 1, description: 'relative weight (default 1; 0 = standby)' }),
  metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
});

export const ConsulDiscovery = Strict({
  type: Type.Literal('consul'),
  service: Type.String({ minLength: 1, description: 'Consul service name' }),
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'only instances with this tag (first tag is used in the SRV name)' })),
  datacenter: Type.Optional(Type.String({ minLength: 1, description: 'datacenter to query (default: the local one)' })),
  failover: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'datacenters to try in order when the local one has no passing instance' })),
  prepared_query: Type.Optional(Type.String({ minLength: 1, description: 'resolve through <name>.query.consul (a prepared query with Failover) instead' })),
});

export const HashOn = Strict({
  type: Type.Union([Type.Literal('header'), Type.Literal('cookie'), Type.Literal('ip'), Type.Literal('uri')], { description: 'what the consistent hash keys on' }),
  key: Type.Optional(Type.String({ minLength: 1, description: 'header or cookie name (required for header and cookie)' })),
});

export const Timeouts = Strict({
  connect: Millis(5_000, 'connect timeout'),
  send: Millis(60_000, 'time to send the request'),
  read: Millis(60_000, 'time to receive the response headers, and between body chunks'),
});

export const PassiveHealth = Strict({
  failures: Type.Integer({ minimum: 1, default: 3, description: 'consecutive connection failures or 5xx that eject a node (default 3)' }),
  on_5xx: Type.Boolean({ default: true, description: 'count 5xx answers as failures (default true)' }),
  base_ejection_ms: Millis(5_000, 'first ejection time, doubled on each new ejection'),
  max_ejection_ms: Millis(300_000, 'longest ejection time'),
  panic_threshold: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'if more than this share is ejected, use all nodes (default 0.5)' }),
});

export const Upstream = Strict({
  id: Id,
  name: Type.Optional(Type.String()),
  type: Type.Union([Type.Literal('roundrobin'), Type.Literal('least_conn'), Type.Literal('ewma'), Type.Literal('chash')], { default: 'roundrobin', description: 'balancer (default roundrobin: smooth weighted)' }),
  hash_on: Type.Optional(HashOn),
  nodes: Type.Optional(Type.Array(UpstreamNode, { description: 'static nodes (either nodes or discovery)' })),
  discovery: Type.Optional(ConsulDiscovery),
  scheme: Type.Union([Type.Literal('http'), Type.Literal('https')], { default: 'http' }),
  pass_host: Type.Union([Type.Literal('pass'), Type.Literal('node'), Type.Literal('rewrite')], { default: 'pass', description: 'Host header sent upstream (default pass: the client one)' }),
  upstream_host: Type.Optional(Type.String({ minLength: 1, description: 'Host header when pass_host is rewrite' })),
  timeout: Type.Optional(Timeouts),
  retries: Type.Integer({ minimum: 0, maximum: 10, default: 1, description: 'retries to another node on connection errors, idempotent requests only (default 1)' }),
  keepalive: Type.Optional(Strict({
    connections: Type.Integer({ minimum: 1, default: 64, description: 'connections per node per worker (default 64)' }),
    idle_timeout: Millis(60_000, 'idle keep-alive timeout'),
  })),
  checks: Type.Optional(Strict({ passive: Type.Optional(PassiveHealth) })),
  plugins: Type.Optional(PluginMap),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
});

export type UpstreamNode = Static<typeof UpstreamNode>;
export type ConsulDiscovery = Static<typeof ConsulDiscovery>;
export type Upstream = Static<typeof Upstream>;
export type PassiveHealth = Static<typeof PassiveHealth>;
