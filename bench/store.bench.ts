import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../src/core/etcd-store.js';
import { BinaryServers } from '../test/harness/servers.js';
import { absoluteFigure, ratioFigure, type Benchmark } from './lib/types.js';

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function opsPerSec(total: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) await op(next++);
  }));
  return total / ((performance.now() - t) / 1000);
}

/** The harness itself: real-server start times, and the etcd store wrapper's cost over raw etcd3. */
export const storeBench: Benchmark = {
  name: 'harness',
  description: 'start times of real etcd/Redis/Consul; EtcdStore put+get throughput vs the raw etcd3 client',
  async run(log) {
    const servers = new BinaryServers();
    try {
      let etcd!: Awaited<ReturnType<BinaryServers['etcd']>>;
      const etcdMs = await timed(async () => { etcd = await servers.etcd(); });
      const redisMs = await timed(() => servers.redis());
      const consulMs = await timed(() => servers.consulFederation(['east', 'west']));
      log(`etcd ready in ${etcdMs.toFixed(0)} ms, redis ${redisMs.toFixed(0)} ms, 2-DC consul federation ${consulMs.toFixed(0)} ms`);

      const raw = new Etcd3({ hosts: [etcd.endpoint] });
      const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/bench' });
      const N = 3000;
      const value = { id: 'r', paths: ['/x'], upstream_id: 'u' };
      // Alternate to spread machine noise over both sides.
      const rawRuns: number[] = [];
      const storeRuns: number[] = [];
      for (let round = 0; round < 3; round++) {
        rawRuns.push(await opsPerSec(N, 32, async (i) => {
          await raw.put(`/raw/routes/${i % 100}`).value(JSON.stringify(value));
          await raw.get(`/raw/routes/${i % 100}`).string();
        }));
        storeRuns.push(await opsPerSec(N, 32, async (i) => {
          await store.put(`routes/${i % 100}`, value);
          await store.get(`routes/${i % 100}`);
        }));
      }
      raw.close();
      await store.stop();
      const best = (xs: number[]) => Math.max(...xs);
      log(`put+get pairs/s: raw etcd3 ${best(rawRuns).toFixed(0)}, EtcdStore ${best(storeRuns).toFixed(0)}`);
      return {
        figures: {
          store_vs_raw_etcd3: ratioFigure(best(storeRuns), best(rawRuns), 'put+get/s', { min: 0.9 }, 'raw etcd3'),
          consul_federation_start: absoluteFigure(Math.round(consulMs), 'ms', { max: 15_000 }),
        },
        details: { etcd_start_ms: etcdMs, redis_start_ms: redisMs, consul_2dc_start_ms: consulMs, raw_runs: rawRuns, store_runs: storeRuns },
      };
    } finally {
      await servers.close();
    }
  },
};
