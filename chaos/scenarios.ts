import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalCluster } from '../src/cli/up/cluster.js';
import { addressesOf } from '../src/cli/up/topology.js';
import { EtcdStore } from '../src/core/etcd-store.js';
import { centralKeys, type HealthObservation } from '../src/core/keys.js';
import type { Check, Criteria } from './analysis.js';
import { SdkClient } from './client.js';
import type { RegionPartition } from './partition.js';

/** One failure and how to undo it. */
export interface Fault {
  /** Gateway addresses the fault takes out (for time to detect). */
  faultyNodes: string[];
  restore(): Promise<void>;
  /** The scenario's own checks, beyond the client's figures; awaited after the load stops. */
  checks?(): Promise<Check[]>;
}

/** What the run gives scenarios besides the cluster. */
export interface ChaosContext {
  /** Present when the cluster was started with one cgroup per region. */
  partition: RegionPartition | undefined;
  /** Why there is no partition (RegionPartition.unavailableReason()). */
  partitionUnavailable?: string;
}

export interface Scenario {
  name: string;
  title: string;
  criteria: Criteria;
  /** Why it cannot run here, or undefined. */
  skipReason?(context: ChaosContext): string | undefined;
  inject(cluster: LocalCluster, context: ChaosContext): Promise<Fault>;
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
    title: 'Network partition between regions (per-region cgroups, nftables on loopback)',
    // The client reaches both sides (it is outside both regions): the data planes run on, and
    // one region's prober seeing the other's gateways down must not move traffic.
    criteria: { maxFailedShare: 0.001 },
    skipReason: (context) => (context.partition ? undefined : (context.partitionUnavailable ?? 'the cluster was started without per-region cgroups')),
    async inject(cluster, context) {
      const partition = context.partition;
      if (!partition) throw new Error('no partition: the cluster was started without per-region cgroups');
      if (cluster.topology.regions.length < 2) throw new Error('a partition needs two regions');
      await partition.cut();
      const healedAt: { ms: number } = { ms: 0 };
      const cut = await cutIsReal(cluster, partition);
      // Long enough for the probers' fall count, shorter than the fault.
      const during = sleep(8_000).then(() => failoverNotTriggered(cluster));
      return {
        faultyNodes: [],
        restore: async () => {
          await during;
          await partition.heal();
          healedAt.ms = Date.now();
        },
        checks: async () => [...cut, ...(await during), await federationBack(cluster, healedAt.ms)],
      };
    },
  },
];

/** The scenarios `npm test` runs (the rest run with `npm run chaos`). */
export const CI_SCENARIOS = ['gateway-node-kill', 'region-outage'];

function check(what: string, value: string, bound: string, pass: boolean): Check {
  return { what, value, bound, pass };
}

/** A process of the first region cannot open a connection into the second, and can into its own. */
async function cutIsReal(cluster: LocalCluster, partition: RegionPartition): Promise<Check[]> {
  const a = addressesOf(cluster.topology);
  const [east, west] = cluster.topology.regions.map((r) => r.name);
  const out: Check[] = [];
  for (const [from, i, j] of [[east, 0, 1], [west, 1, 0]] as const) {
    if (!from) continue;
    const cross = await partition.reachable(from, a.etcd(j), 2379);
    const own = await partition.reachable(from, a.etcd(i), 2379);
    out.push(check(`cut: ${from} -> other region's etcd / own etcd`, `${cross ? 'open' : 'blocked'} / ${own ? 'open' : 'blocked'}`, 'blocked / open', !cross && own));
  }
  return out;
}

/**
 * During the partition the first region's prober sees the second region's gateways down
 * (so the cut reached the probers), yet the first region's DNS still answers the second
 * region's clients with the second region's gateways: one partitioned prober is no majority.
 */
async function failoverNotTriggered(cluster: LocalCluster): Promise<Check[]> {
  const t = cluster.topology;
  const a = addressesOf(t);
  const [east, west] = t.regions.map((r) => r.name);
  if (!east || !west) return [];
  const westGateways = Array.from({ length: t.gateways_per_region }, (_, n) => ({ name: `gw${n + 1}`, ip: a.gatewayIp(1, n) }));
  const store = new EtcdStore({ endpoints: [`http://${a.centralEtcd}:2379`], prefix: t.prefix });
  let seenDown: number;
  try {
    const obs = await Promise.all(westGateways.map((g) => store.get<HealthObservation>(centralKeys.health(`prober-${east}`, west, 'main', g.name))));
    seenDown = obs.filter((o) => o?.value.up === false).length;
  } finally {
    await store.stop();
  }
  const client = new SdkClient({ name: t.demo.business_domain, resolvers: [{ host: a.dns(0), port: t.dns_port }], clientSubnet: a.cidr(1), port: t.gateway_port, path: t.demo.route_path, headers: {} });
  let answered: string[] = [];
  try {
    answered = await client.addresses(true);
  } catch {
    // no answer: the check below fails
  } finally {
    await client.close();
  }
  const kept = westGateways.filter((g) => answered.includes(g.ip)).length;
  return [
    check(`prober-${east} sees ${west}'s gateways down`, `${seenDown}/${westGateways.length}`, `${westGateways.length}/${westGateways.length}`, seenDown === westGateways.length),
    check(`dns-${east} still answers ${west}'s clients with ${west}'s gateways`, `${kept}/${westGateways.length} (${answered.join(' ') || 'no answer'})`, `${westGateways.length}/${westGateways.length}`, kept === westGateways.length),
  ];
}

const FEDERATION_BOUND_MS = 60_000;

/** After healing, every Consul server sees every other region's server alive on the WAN again. */
async function federationBack(cluster: LocalCluster, healedAt: number): Promise<Check> {
  const a = addressesOf(cluster.topology);
  const urls = cluster.topology.regions.map((_, i) => `http://${a.consul(i)}:8500`);
  const deadline = healedAt + FEDERATION_BOUND_MS + 30_000;
  for (;;) {
    const alive = await Promise.all(urls.map(async (url) => {
      try {
        const res = await fetch(`${url}/v1/agent/members?wan=1`, { signal: AbortSignal.timeout(1_000) });
        const members = (await res.json()) as Array<{ Status: number }>;
        return members.length === urls.length && members.every((m) => m.Status === 1);
      } catch {
        return false;
      }
    }));
    const ms = Date.now() - healedAt;
    if (alive.every(Boolean)) return check('Consul WAN federation alive again after healing', `${(ms / 1000).toFixed(1)} s`, `<= ${FEDERATION_BOUND_MS / 1000} s`, ms <= FEDERATION_BOUND_MS);
    if (Date.now() > deadline) return check('Consul WAN federation alive again after healing', `not within ${(ms / 1000).toFixed(0)} s`, `<= ${FEDERATION_BOUND_MS / 1000} s`, false);
    await sleep(500);
  }
}
