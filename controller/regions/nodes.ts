import { regionalKeys, type NodeRegistration } from '../../src/core/keys.js';
import type { Region } from '../../src/core/model/index.js';
import type { RegionStores } from './region-stores.js';

export interface RegionNodes {
  region: string;
  nodes: NodeRegistration[];
  /** False when the region's etcd did not answer and the list is the last one seen. */
  fresh: boolean;
  error?: string;
}

/**
 * Live gateway nodes of a region, from their lease registrations under nodes/. The last list
 * seen is kept: a purge during a regional etcd outage still reaches the nodes known to be up.
 */
export class NodeDirectory {
  private readonly last = new Map<string, NodeRegistration[]>();

  constructor(private readonly stores: RegionStores) {}

  async nodes(region: Region): Promise<RegionNodes> {
    const store = this.stores.get(region);
    if (!store) return { region: region.name, nodes: [], fresh: true };
    try {
      const snap = await store.snapshot<NodeRegistration>(regionalKeys.nodes());
      const nodes = [...snap.entries.values()].map((e) => e.value).sort((a, b) => `${a.cluster}/${a.name}`.localeCompare(`${b.cluster}/${b.name}`));
      this.last.set(region.name, nodes);
      return { region: region.name, nodes, fresh: true };
    } catch (err) {
      this.stores.reset(region.name);
      return { region: region.name, nodes: this.last.get(region.name) ?? [], fresh: false, error: (err as Error).message };
    }
  }
}
