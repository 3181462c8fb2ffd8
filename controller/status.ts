import { regionalKeys, type RegionalRevision } from '../src/core/keys.js';
import type { Region } from '../src/core/model/index.js';
import type { CentralMirror } from './central/mirror.js';
import type { RegionStores } from './regions/region-stores.js';
import type { NodeDirectory } from './regions/nodes.js';
import type { RegionSyncState } from './reconcile/region-sync.js';

export type SyncState = 'in_sync' | 'behind' | 'unreachable' | 'no_etcd';

export interface NodeStatus {
  cluster: string;
  name: string;
  address: string;
  admin: string;
  version: string;
  config_revision: number;
  state: SyncState;
}

export interface RegionStatus {
  region: string;
  state: SyncState;
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
 * etcd (config/_revision and the nodes' own registrations), so any replica can answer.
 */
export async function collectStatus(
  mirror: CentralMirror,
  stores: RegionStores,
  nodes: NodeDirectory,
  who: { replica: string; leader: string | null; isLeader: boolean; reconciler: RegionSyncState[] },
): Promise<ControllerStatus> {
  const desired = mirror.configRevision;
  const regions = await Promise.all(mirror.list('regions').map(async ({ value }) => regionStatus(value as Region, desired, stores, nodes, who.reconciler)));
  return { replica: who.replica, leader: who.leader, is_leader: who.isLeader, central_revision: mirror.revision, config_revision: desired, regions };
}

async function regionStatus(region: Region, desired: number, stores: RegionStores, dir: NodeDirectory, rec: RegionSyncState[]): Promise<RegionStatus> {
  const reconciler = rec.find((r) => r.region === region.name);
  const base = { region: region.name, desired_revision: desired, ...(reconciler ? { reconciler } : {}) };
  const store = stores.get(region);
  if (!store) return { ...base, state: 'no_etcd', applied_revision: null, written_at: null, nodes: [] };
  let rev: RegionalRevision | undefined;
  try {
    rev = (await store.get<RegionalRevision>(regionalKeys.revision()))?.value;
  } catch (err) {
    stores.reset(region.name);
    const known = await dir.nodes(region);
    return {
      ...base, state: 'unreachable', applied_revision: null, written_at: null, error: (err as Error).message,
      nodes: known.nodes.map((n) => ({ cluster: n.cluster, name: n.name, address: n.address, admin: n.admin, version: n.version, config_revision: n.config_revision, state: 'unreachable' })),
    };
  }
  const applied = rev?.central_revision ?? 0;
  const live = await dir.nodes(region);
  return {
    ...base,
    state: applied >= desired ? 'in_sync' : 'behind',
    applied_revision: applied,
    written_at: rev?.written_at ?? null,
    nodes: live.nodes.map((n) => ({
      cluster: n.cluster, name: n.name, address: n.address, admin: n.admin, version: n.version, config_revision: n.config_revision,
      state: n.config_revision >= desired ? 'in_sync' : 'behind',
    })),
  };
}
