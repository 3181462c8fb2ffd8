/**
 * The etcd key layout (relative to the store prefix, default /meridian), shared by every
 * program so writer and reader can never disagree. See DESIGN.md "etcd keys".
 */
import type { ResourceKind } from './model/index.js';

// ---- central etcd ----
export const centralKeys = {
  resource: (kind: ResourceKind, name: string) => `${kind}/${name}`,
  resources: (kind: ResourceKind) => `${kind}/`,
  /** Prober observation of one gateway node, under the prober's lease. */
  health: (prober: string, region: string, cluster: string, node: string) => `health/${prober}/${region}/${cluster}/${node}`,
  healthAll: () => 'health/',
  leader: () => 'controller/leader',
  audit: (at: string) => `audit/${at}`,
} as const;

/** What a prober writes for one gateway node. */
export interface HealthObservation {
  prober: string;
  /** Region the prober probes from. */
  region: string;
  node: { region: string; cluster: string; name: string };
  up: boolean;
  /** Both probes: HTTP GET admin /healthz and TCP connect to the public port. */
  http: boolean;
  tcp: boolean;
  latency_ms: number;
  checked_at: string;
}

// ---- regional etcd ----
/** Data-plane resources the reconciler writes for a region (gateways watch `config/`). */
export const REGIONAL_KINDS = ['routes', 'upstreams', 'consumers', 'ssl', 'global_rules'] as const;
export type RegionalKind = (typeof REGIONAL_KINDS)[number];

export const regionalKeys = {
  config: () => 'config/',
  resource: (kind: RegionalKind, name: string) => `config/${kind}/${name}`,
  /** `{ central_revision, written_at }`: the central revision the region's config came from. */
  revision: () => 'config/_revision',
  /** A gateway node's self-registration, under its lease. */
  node: (cluster: string, node: string) => `nodes/${cluster}/${node}`,
  nodes: () => 'nodes/',
} as const;

export interface RegionalRevision {
  central_revision: number;
  written_at: string;
}

/** What a gateway node registers about itself (regional etcd, under a lease). */
export interface NodeRegistration {
  name: string;
  cluster: string;
  region: string;
  /** Public listener host:port. */
  address: string;
  /** Admin listener base URL (healthz, status, metrics, purge). */
  admin: string;
  version: string;
  /** Central revision of the config this node serves. */
  config_revision: number;
  started_at: string;
}
