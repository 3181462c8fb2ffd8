import { EtcdStore } from '../../src/core/etcd-store.js';
import type { Region } from '../../src/core/model/index.js';

/**
 * One etcd client per regional etcd. After a failure the client is dropped and the next call
 * builds a new one: the etcd3 client's circuit breaker would otherwise refuse calls for
 * seconds after the region is back, and catch-up would wait for nothing.
 */
export class RegionStores {
  private readonly stores = new Map<string, { endpoints: string; store: EtcdStore }>();

  constructor(private readonly prefix: string, private readonly timeoutMs: number) {}

  get(region: Region): EtcdStore | undefined {
    const endpoints = region.etcd?.endpoints;
    if (!endpoints) return undefined;
    const joined = endpoints.join(',');
    const cur = this.stores.get(region.name);
    if (cur && cur.endpoints === joined) return cur.store;
    if (cur) cur.store.stop().catch(() => undefined);
    const store = new EtcdStore({ endpoints, prefix: this.prefix, timeoutMs: this.timeoutMs });
    this.stores.set(region.name, { endpoints: joined, store });
    return store;
  }

  reset(regionName: string): void {
    const cur = this.stores.get(regionName);
    if (!cur) return;
    this.stores.delete(regionName);
    cur.store.stop().catch(() => undefined);
  }

  async stop(): Promise<void> {
    const all = [...this.stores.values()];
    this.stores.clear();
    await Promise.all(all.map((s) => s.store.stop().catch(() => undefined)));
  }
}
