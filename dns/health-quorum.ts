/**
 * The quorum rule: a node is down only when a strict majority of the live probers that observe
 * it see it down. A prober is live while it has keys under health/<prober>/ (they sit under its
 * lease, so a dead or partitioned-from-etcd prober drops out by itself). A tie, or no observer,
 * counts as up: one partitioned prober must never fail a node, a cluster or a region.
 */
import type { HealthObservation } from '../src/core/keys.js';

export type NodeKey = string;

export function nodeKey(region: string, cluster: string, node: string): NodeKey {
  return `${region}/${cluster}/${node}`;
}

/** prober -> node key -> observation (exactly the keys present in etcd). */
export type Observations = ReadonlyMap<string, ReadonlyMap<NodeKey, HealthObservation>>;

export interface Verdict {
  down: boolean;
  observers: number;
  downVotes: number;
}

export function verdicts(observations: Observations): Map<NodeKey, Verdict> {
  const out = new Map<NodeKey, Verdict>();
  for (const byNode of observations.values()) {
    for (const [key, obs] of byNode) {
      const v = out.get(key) ?? { down: false, observers: 0, downVotes: 0 };
      v.observers++;
      if (!obs.up) v.downVotes++;
      out.set(key, v);
    }
  }
  for (const v of out.values()) v.down = v.downVotes * 2 > v.observers;
  return out;
}

export function liveProbers(observations: Observations): string[] {
  return [...observations.entries()].filter(([, m]) => m.size > 0).map(([p]) => p).sort();
}
