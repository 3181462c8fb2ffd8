/**
 * An immutable view of regions, clusters and node health, rebuilt whenever etcd changes and
 * swapped in one assignment: a query reads one consistent picture, never half an update.
 */
import type { Region, VDomain, Binding } from '../src/core/model/index.js';
import type { HealthObservation } from '../src/core/keys.js';
import { CidrTable } from './cidr.js';
import { nodeKey, verdicts, liveProbers, type Observations, type NodeKey } from './health-quorum.js';
import { addressFamily } from './wire.js';

export interface NodeView {
  key: NodeKey;
  name: string;
  address: string;
  family: 4 | 6;
  up: boolean;
}

export interface ClusterView {
  region: string;
  name: string;
  /** `region/cluster`, the id policies use. */
  id: string;
  isp?: string;
  weight: number;
  threshold: number;
  nodes: NodeView[];
  healthy: NodeView[];
  /** Enough healthy nodes to take traffic. */
  in: boolean;
}

export interface RegionView {
  name: string;
  failover: string[];
  drained: boolean;
  clusters: ClusterView[];
  /** Not drained and at least one cluster in. */
  in: boolean;
}

export interface Topology {
  revision: number;
  regions: Map<string, RegionView>;
  /** Region names sorted: the fallback order after a policy's own list. */
  regionOrder: string[];
  clusters: Map<string, ClusterView>;
  vdomains: Map<string, VDomain>;
  /** Lower-case domain (or *.parent) -> binding. */
  bindings: Map<string, Binding>;
  cidrs: CidrTable;
  liveProbers: string[];
  downNodes: NodeKey[];
}

export interface RawState {
  revision: number;
  regions: ReadonlyMap<string, Region>;
  vdomains: ReadonlyMap<string, VDomain>;
  bindings: ReadonlyMap<string, Binding>;
  observations: ReadonlyMap<string, ReadonlyMap<NodeKey, HealthObservation>>;
}

export function buildTopology(raw: RawState): Topology {
  const v = verdicts(raw.observations as Observations);
  const regions = new Map<string, RegionView>();
  const clusters = new Map<string, ClusterView>();
  const regionOrder = [...raw.regions.keys()].sort();
  const cidrRows: Array<{ cidr: string; region: string; isp?: string }> = [];
  const downNodes: NodeKey[] = [];
  for (const name of regionOrder) {
    const region = raw.regions.get(name) as Region;
    const views: ClusterView[] = [];
    for (const c of region.clusters) {
      const nodes: NodeView[] = [];
      for (const n of c.nodes) {
        const family = addressFamily(n.address);
        if (family === 0) continue; // a host name cannot go into an A/AAAA record
        const key = nodeKey(name, c.name, n.name);
        const up = !(v.get(key)?.down ?? false);
        if (!up) downNodes.push(key);
        nodes.push({ key, name: n.name, address: n.address, family, up });
      }
      const healthy = nodes.filter((n) => n.up);
      const view: ClusterView = {
        region: name,
        name: c.name,
        id: `${name}/${c.name}`,
        ...(c.isp ? { isp: c.isp } : {}),
        weight: c.weight,
        threshold: c.threshold,
        nodes,
        healthy,
        in: healthy.length > 0 && healthy.length >= c.threshold,
      };
      views.push(view);
      clusters.set(view.id, view);
    }
    regions.set(name, { name, failover: region.failover, drained: region.drained, clusters: views, in: !region.drained && views.some((c) => c.in) });
    for (const row of region.cidrs) cidrRows.push({ cidr: row.cidr, region: name, ...(row.isp ? { isp: row.isp } : {}) });
  }
  const bindings = new Map<string, Binding>();
  for (const b of raw.bindings.values()) bindings.set(b.domain.toLowerCase().replace(/\.$/, ''), b);
  return {
    revision: raw.revision,
    regions,
    regionOrder,
    clusters,
    vdomains: new Map(raw.vdomains),
    bindings,
    cidrs: new CidrTable(cidrRows),
    liveProbers: liveProbers(raw.observations as Observations),
    downNodes,
  };
}
