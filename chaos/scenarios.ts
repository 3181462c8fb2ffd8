import type { LocalCluster } from '../src/cli/up/cluster.js';
import { addressesOf } from '../src/cli/up/topology.js';
import type { Criteria } from './analysis.js';

/** One failure and how to undo it. */
export interface Fault {
  /** Gateway addresses the fault takes out (for time to detect). */
  faultyNodes: string[];
  restore(): Promise<void>;
}

export interface Scenario {
  name: string;
  title: string;
  criteria: Criteria;
  /** Why it cannot run here, or undefined. */
  skipReason?(): string | undefined;
  inject(cluster: LocalCluster): Promise<Fault>;
}

const TTL_MS = 5_000;

async function killAll(cluster: LocalCluster, names: string[], how: 'kill' | 'stop'): Promise<() => Promise<void>> {
  const members = names.map((n) => cluster.member(n));
  await Promise.all(members.map((m) => (how === 'kill' ? m.proc.kill() : m.proc.stop(5_000))));
  return async () => {
    // Servers before the programs that need them: the names are given in that order.
    for (const m of members) await m.proc.start();
  };
}

function region0(cluster: LocalCluster): string {
  const r = cluster.topology.regions[0];
  if (!r) throw new Error('the topology has no region');
  return r.name;
}

function gatewaysOf(cluster: LocalCluster, regionIndex: number): string[] {
  const a = addressesOf(cluster.topology);
  return Array.from({ length: cluster.topology.gateways_per_region }, (_, n) => a.gateway(regionIndex, n));
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'gateway-node-kill',
    title: 'Kill one gateway node (SIGKILL)',
    criteria: { maxFailedShare: 0.0001, maxDetectMs: 3_000 + TTL_MS + 1_000 },
    async inject(cluster) {
      const r = region0(cluster);
      const restore = await killAll(cluster, [`gateway-${r}-1`], 'kill');
      return { faultyNodes: gatewaysOf(cluster, 0).slice(0, 1), restore };
    },
  },
  {
    name: 'region-outage',
    title: 'Kill a whole region: its gateways, Consul and etcd',
    criteria: { maxFailedShare: 0.001, maxRecoverMs: TTL_MS + 5_000 },
    skipReason: () => undefined,
    async inject(cluster) {
      const r = region0(cluster);
      const gws = Array.from({ length: cluster.topology.gateways_per_region }, (_, n) => `gateway-${r}-${n + 1}`);
      const restore = await killAll(cluster, [`consul-${r}`, `etcd-${r}`, ...gws], 'kill');
      return { faultyNodes: gatewaysOf(cluster, 0), restore };
    },
  },
  {
    name: 'upstream-instance-kill',
    title: 'Kill one upstream (demo service) instance',
    criteria: { maxFailedShare: 0.001 },
    async inject(cluster) {
      const restore = await killAll(cluster, [`${cluster.topology.demo.service}-${region0(cluster)}-1`], 'kill');
      return { faultyNodes: [], restore };
    },
  },
  {
    name: 'consul-stop',
    title: "Stop a region's Consul (gateways serve their cached instances)",
    criteria: { maxFailedShare: 0 },
    async inject(cluster) {
      const restore = await killAll(cluster, [`consul-${region0(cluster)}`], 'stop');
      return { faultyNodes: [], restore };
    },
  },
  {
    name: 'central-etcd-stop',
    title: 'Stop the central etcd (data planes run on)',
    criteria: { maxFailedShare: 0 },
    async inject(cluster) {
      const restore = await killAll(cluster, ['etcd-central'], 'stop');
      return { faultyNodes: [], restore };
    },
  },
  {
    name: 'redis-stop',
    title: "Stop a region's Redis (limiters fall back to local counting)",
    criteria: { maxFailedShare: 0 },
    async inject(cluster) {
      const restore = await killAll(cluster, [`redis-${region0(cluster)}`], 'stop');
      return { faultyNodes: [], restore };
    },
  },
  {
    name: 'gateway-freeze',
    title: 'Freeze one gateway node with SIGSTOP',
    criteria: { maxFailedShare: 0.001, maxDetectMs: 3_000 + TTL_MS + 3_000 },
    async inject(cluster) {
      const m = cluster.member(`gateway-${region0(cluster)}-1`);
      m.proc.freeze();
      return { faultyNodes: gatewaysOf(cluster, 0).slice(0, 1), restore: async () => m.proc.thaw() };
    },
  },
  {
    name: 'controller-kill',
    title: 'Kill the controller leader',
    criteria: { maxFailedShare: 0 },
    async inject(cluster) {
      const restore = await killAll(cluster, ['controller'], 'kill');
      return { faultyNodes: [], restore };
    },
  },
  {
    name: 'region-partition',
    title: 'Network partition between regions (network namespaces)',
    criteria: { maxFailedShare: 0.001 },
    skipReason: () =>
      process.getuid?.() !== 0
        ? 'needs root for network namespaces'
        : // Root is not enough: on shared loopback, cross-region connections leave from 127.0.0.1,
          // so no packet filter can tell east from west; each region needs its own namespace.
          'the local cluster runs every region in one network namespace on loopback, where cross-region connections come from 127.0.0.1 and cannot be cut by region; a partition needs one namespace per region (veth pairs), which the local topology does not build yet',
    async inject() {
      throw new Error('not runnable here');
    },
  },
];

/** The scenarios `npm test` runs (the rest run with `npm run chaos`). */
export const CI_SCENARIOS = ['gateway-node-kill', 'region-outage'];
