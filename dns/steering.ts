/**
 * Steering: which gateway nodes answer a name for a client, under the domain's policy.
 *
 * Every policy reduces to an ordered list of candidate clusters; the first one that is in
 * (enough healthy nodes, region not drained) wins, except `weighted`, which draws among the
 * clusters that are in. That one shape gives the three failover levels for free: a down node
 * leaves its cluster's healthy list, a cluster below threshold is skipped for the next one,
 * and a region with no cluster in is skipped for the next region in the failover order.
 */
import type { VDomainPolicy } from '../src/core/model/index.js';
import type { ClusterView, NodeView, Topology } from './topology.js';

export interface Location {
  region?: string;
  isp?: string;
}

export type FailoverLevel = 'none' | 'node' | 'cluster' | 'region' | 'fail_open';

export interface Steered {
  nodes: NodeView[];
  cluster?: ClusterView;
  level: FailoverLevel;
}

function unique(xs: Iterable<string>): string[] {
  return [...new Set(xs)];
}

/** Clusters of a region, those serving the client's ISP line first, then the unmarked, then others. */
function clustersOf(topo: Topology, region: string, isp: string | undefined): ClusterView[] {
  const cs = topo.regions.get(region)?.clusters ?? [];
  if (!isp) return cs.filter((c) => !c.isp).concat(cs.filter((c) => c.isp));
  const rank = (c: ClusterView) => (c.isp === isp ? 0 : c.isp === undefined ? 1 : 2);
  return [...cs].sort((a, b) => rank(a) - rank(b));
}

/** Region order for the client: its own region, that region's failover list, then the rest by name. */
function nearestRegions(topo: Topology, loc: Location, defaultRegion: string | undefined): string[] {
  const primary = loc.region && topo.regions.has(loc.region) ? loc.region : defaultRegion && topo.regions.has(defaultRegion) ? defaultRegion : topo.regionOrder[0];
  if (primary === undefined) return [];
  return unique([primary, ...(topo.regions.get(primary)?.failover ?? []), ...topo.regionOrder]).filter((r) => topo.regions.has(r));
}

/** The ordered candidate clusters of a policy (weighted: every weighted cluster, in no order). */
export function candidates(topo: Topology, policy: VDomainPolicy, loc: Location, defaultRegion?: string): ClusterView[] {
  const fromRegions = (regions: string[]) => regions.flatMap((r) => clustersOf(topo, r, loc.isp));
  switch (policy.type) {
    case 'failover':
      return fromRegions(policy.regions && policy.regions.length > 0 ? policy.regions : nearestRegions(topo, loc, defaultRegion));
    case 'pinned': {
      const pinnedClusters = (policy.clusters ?? []).map((id) => topo.clusters.get(id)).filter((c): c is ClusterView => c !== undefined);
      const pinnedRegions = pinnedClusters.length > 0 ? unique(pinnedClusters.map((c) => c.region)) : (policy.regions ?? []);
      // Nearest among the pinned: the client's region first when it is one of them.
      const order = loc.region && pinnedRegions.includes(loc.region) ? unique([loc.region, ...pinnedRegions]) : pinnedRegions;
      const all = fromRegions(order);
      return pinnedClusters.length > 0 ? all.filter((c) => pinnedClusters.includes(c)) : all;
    }
    case 'weighted':
      return Object.entries(policy.weights ?? {})
        .filter(([, w]) => w > 0)
        .map(([id]) => topo.clusters.get(id))
        .filter((c): c is ClusterView => c !== undefined);
    case 'nearest':
    default:
      return fromRegions(nearestRegions(topo, loc, defaultRegion));
  }
}

function usable(topo: Topology, c: ClusterView): boolean {
  return c.in && (topo.regions.get(c.region)?.in ?? false);
}

function pickWeighted(topo: Topology, policy: VDomainPolicy, cs: ClusterView[], random: () => number): ClusterView | undefined {
  const live = cs.filter((c) => usable(topo, c));
  const weights = live.map((c) => policy.weights?.[c.id] ?? 0);
  const total = weights.reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  let r = random() * total;
  for (let i = 0; i < live.length; i++) {
    r -= weights[i] as number;
    if (r < 0) return live[i];
  }
  return live[live.length - 1];
}

/** `count` nodes of one address family, starting at `rotation` so load spreads over the cluster. */
function take(nodes: NodeView[], family: 4 | 6, count: number, rotation: number): NodeView[] {
  const fam = nodes.filter((n) => n.family === family);
  if (fam.length <= count) return fam;
  const start = rotation % fam.length;
  const out: NodeView[] = [];
  for (let i = 0; i < count; i++) out.push(fam[(start + i) % fam.length] as NodeView);
  return out;
}

export interface SteerInput {
  policy: VDomainPolicy;
  location: Location;
  defaultRegion?: string;
  family: 4 | 6;
  records: number;
  /** Nodes of the next region appended after the primary ones (0: none). */
  backup?: number;
  rotation: number;
  random?: () => number;
}

export function steer(topo: Topology, input: SteerInput): Steered {
  const cs = candidates(topo, input.policy, input.location, input.defaultRegion);
  if (cs.length === 0) return { nodes: [], level: 'none' };
  const chosen = input.policy.type === 'weighted' ? pickWeighted(topo, input.policy, cs, input.random ?? Math.random) : cs.find((c) => usable(topo, c));
  if (!chosen) {
    // Fail open: nothing healthy anywhere in scope. Answering with every node as if healthy
    // beats answering nothing: probers may be wrong, an empty answer is surely wrong.
    const first = cs[0] as ClusterView;
    return { nodes: take(first.nodes, input.family, input.records, input.rotation), cluster: first, level: 'fail_open' };
  }
  const nodes = take(chosen.healthy, input.family, input.records, input.rotation);
  // Backup records last: the next usable cluster in another region, in the policy's order.
  if ((input.backup ?? 0) > 0 && input.policy.type !== 'weighted') {
    const next = cs.find((c) => c.region !== chosen.region && usable(topo, c));
    if (next) nodes.push(...take(next.healthy, input.family, input.backup ?? 0, input.rotation));
  }
  const first = cs[0] as ClusterView;
  let level: FailoverLevel = 'none';
  if (input.policy.type !== 'weighted' && chosen.region !== first.region) level = 'region';
  else if (input.policy.type !== 'weighted' && chosen !== first) level = 'cluster';
  else if (chosen.healthy.length < chosen.nodes.length) level = 'node';
  return { nodes, cluster: chosen, level };
}
