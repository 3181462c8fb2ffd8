import { regionalKeys, type HealthObservation, type NodeRegistration, type RegionalRevision } from '../src/core/keys.js';
import type { Region } from '../src/core/model/index.js';
import type { CentralMirror } from './central/mirror.js';
import type { RegionStores } from './regions/region-stores.js';
import type { NodeDirectory } from './regions/nodes.js';
import type { RegionSyncState } from './reconcile/region-sync.js';

export type SyncState = 'in_sync' | 'behind' | 'unreachable' | 'no_etcd';
/** A region's state: its config (SyncState), or `degraded` when its config is in sync but a node is down or missing. */
export type RegionState = SyncState | 'degraded';
/**
 * A node's state. `down`: the probers see it down (whatever its registration says); `missing`:
 * its region's cluster definition names it but it is not registered (its lease expired or it
 * never started); `unknown`: named by the definition, in a region without etcd to register in.
 */
export type NodeState = 'in_sync' | 'behind' | 'unreachable' | 'missing' | 'down' | 'unknown';

/** One prober's view of a node (central etcd health/<prober>/..., written when it changes). */
export interface ProbeView {
  prober: string;
  /** The region the prober probes from. */
  from: string;
  up: boolean;
  http: boolean;
  tcp: boolean;
  /** When the prober last saw a change (its observation is written on change only). */
  since: string;
}

export interface NodeStatus {
  cluster: string;
  name: string;
  address: string;
  admin: string;
  version: string;
  /** The central revision the node serves (null: not registered). */
  config_revision: number | null;
  state: NodeState;
  /** Registered in the region's etcd (under its lease) now. */
  registered: boolean;
  /** Named by the region's cluster definition. */
  expected: boolean;
  /** The probers' verdict: down when any of them sees it down; null when no prober observes it. */
  probe: { up: boolean; since: string; up_count: number; down_count: number; by: ProbeView[] } | null;
}

export interface RegionStatus {
  region: string;
  state: RegionState;
  desired_revision: number;
  applied_revision: number | null;
  written_at: string | null;
  error?: string;
  /** The leader's retry state for this region (present on the leader only). */
  reconciler?: RegionSyncState;
  nodes: NodeStatus[];
}

export interface ControllerStatus {
  replica: string;
  leader: string | null;
  is_leader: boolean;
  central_revision: number;
  config_revision: number;
  regions: RegionStatus[];
}

/**
 * What every region and gateway node holds compared with central, read live from each region's
 * etcd (config/_revision and the nodes' own registrations), so any replica can answer. The nodes
 * are those registered and those the regions' cluster definitions name; beside each, the
 * probers' view from central etcd (health/), so a dead node shows as down or missing, never as
 * absent.
 */
export async function collectStatus(
  mirror: CentralMirror,
  stores: RegionStores,
  nodes: NodeDirectory,
  who: { replica: string; leader: string | null; isLeader: boolean; reconciler: RegionSyncState[] },
  observations: () => Promise<HealthObservation[]>,
): Promise<ControllerStatus> {
  const desired = mirror.configRevision;
  const probes = groupProbes(await observations().catch(() => []));
  const regions = await Promise.all(mirror.list('regions').map(async ({ value }) => regionStatus({ region: value as Region, desired, stores, dir: nodes, rec: who.reconciler, probes })));
  return { replica: who.replica, leader: who.leader, is_leader: who.isLeader, central_revision: mirror.revision, config_revision: desired, regions };
}

const nodeKey = (region: string, cluster: string, name: string) => `${region}/${cluster}/${name}`;

function groupProbes(obs: HealthObservation[]): Map<string, ProbeView[]> {
  const out = new Map<string, ProbeView[]>();
  for (const o of obs) {
    const key = nodeKey(o.node.region, o.node.cluster, o.node.name);
    const list = out.get(key) ?? [];
    list.push({ prober: o.prober, from: o.region, up: o.up, http: o.http, tcp: o.tcp, since: o.checked_at });
    out.set(key, list);
  }
  return out;
}

/** Down when any prober sees it down; since: the earliest change among the probers that agree. */
function verdict(by: ProbeView[] | undefined): NodeStatus['probe'] {
  if (!by || by.length === 0) return null;
  const down = by.filter((p) => !p.up);
  const agree = down.length > 0 ? down : by;
  const since = agree.map((p) => p.since).sort()[0] as string;
  return { up: down.length === 0, since, up_count: by.length - down.length, down_count: down.length, by: [...by].sort((a, b) => a.prober.localeCompare(b.prober)) };
}

interface RegionInput {
  region: Region;
  desired: number;
  stores: RegionStores;
  dir: NodeDirectory;
  rec: RegionSyncState[];
  probes: Map<string, ProbeView[]>;
}

/** Registered nodes and the ones the cluster definitions name, each once, sorted by cluster/name. */
function nodeRows(input: RegionInput, registered: NodeRegistration[], live: boolean, stateOf: (n: NodeRegistration) => NodeState): NodeStatus[] {
  const { region, probes } = input;
  const rows = new Map<string, NodeStatus>();
  const expected = new Set(region.clusters.flatMap((c) => c.nodes.map((n) => `${c.name}/${n.name}`)));
  for (const n of registered) {
    rows.set(`${n.cluster}/${n.name}`, { cluster: n.cluster, name: n.name, address: n.address, admin: n.admin, version: n.version, config_revision: n.config_revision, state: stateOf(n), registered: live, expected: expected.has(`${n.cluster}/${n.name}`), probe: null });
  }
  for (const c of region.clusters) {
    for (const n of c.nodes) {
      if (rows.has(`${c.name}/${n.name}`)) continue;
      rows.set(`${c.name}/${n.name}`, { cluster: c.name, name: n.name, address: `${n.address}:${n.port}`, admin: n.admin, version: '', config_revision: null, state: input.stores.get(region) ? 'missing' : 'unknown', registered: false, expected: true, probe: null });
    }
  }
  for (const row of rows.values()) {
    row.probe = verdict(probes.get(nodeKey(region.name, row.cluster, row.name)));
    if (row.probe && !row.probe.up) row.state = 'down';
  }
  return [...rows.values()].sort((a, b) => `${a.cluster}/${a.name}`.localeCompare(`${b.cluster}/${b.name}`));
}

/** A region whose config is fine is still `degraded` while one of its nodes is down or missing. */
function withNodes(state: SyncState, rows: NodeStatus[]): RegionState {
  if (state !== 'in_sync' && state !== 'no_etcd') return state;
  return rows.some((n) => n.state === 'down' || n.state === 'missing') ? 'degraded' : state;
}

async function regionStatus(input: RegionInput): Promise<RegionStatus> {
  const { region, desired, stores, dir, rec } = input;
  const reconciler = rec.find((r) => r.region === region.name);
  const base = { region: region.name, desired_revision: desired, ...(reconciler ? { reconciler } : {}) };
  const store = stores.get(region);
  if (!store) {
    const rows = nodeRows(input, [], false, () => 'unknown');
    return { ...base, state: withNodes('no_etcd', rows), applied_revision: null, written_at: null, nodes: rows };
  }
  let rev: RegionalRevision | undefined;
  try {
    rev = (await store.get<RegionalRevision>(regionalKeys.revision()))?.value;
  } catch (err) {
    stores.reset(region.name);
    const known = await dir.nodes(region);
    return { ...base, state: 'unreachable', applied_revision: null, written_at: null, error: (err as Error).message, nodes: nodeRows(input, known.nodes, false, () => 'unreachable') };
  }
  const applied = rev?.central_revision ?? 0;
  const live = await dir.nodes(region);
  const rows = nodeRows(input, live.nodes, live.fresh, (n) => (!live.fresh ? 'unreachable' : n.config_revision >= desired ? 'in_sync' : 'behind'));
  return { ...base, state: withNodes(applied >= desired ? 'in_sync' : 'behind', rows), applied_revision: applied, written_at: rev?.written_at ?? null, nodes: rows };
}
