import type { UpstreamNode } from '../core/model/index.js';

/**
 * A node's identity across refreshes: `host:port` (`[v6]:port`). The gateway keys per-node
 * state (passive-health ejection and its backoff, connection pools, EWMA scores) by this, so
 * that state survives every refresh of the node list and a node that leaves Consul and comes
 * back is still the same node.
 */
export function nodeKey(node: Pick<UpstreamNode, 'host' | 'port'>): string {
  return node.host.includes(':') ? `[${node.host}]:${node.port}` : `${node.host}:${node.port}`;
}

/**
 * Whether `instance` (a purge's `instance` field) names `node`: `host:port`, `[v6]:port`, the
 * unbracketed `v6:port` some tools print, or a bare host for every port of it.
 */
export function matchesInstance(node: Pick<UpstreamNode, 'host' | 'port'>, instance: string): boolean {
  return instance === node.host || instance === nodeKey(node) || instance === `${node.host}:${node.port}`;
}

function sameNode(a: UpstreamNode, b: UpstreamNode): boolean {
  if (a.host !== b.host || a.port !== b.port || a.weight !== b.weight) return false;
  const am = a.metadata ?? {};
  const bm = b.metadata ?? {};
  const keys = Object.keys(am);
  return keys.length === Object.keys(bm).length && keys.every((k) => am[k] === bm[k]);
}

/**
 * The next node list, built so that nothing changes for the gateway when nothing changed in
 * Consul: sorted by key (Consul shuffles SRV answers on every query), duplicates dropped, the
 * previous node object reused for an unchanged node (so `===` and WeakMaps work too), and the
 * previous array itself returned when the list is the same — callers compare by reference to
 * decide whether to notify.
 */
export function stabilize(previous: readonly UpstreamNode[], next: readonly UpstreamNode[]): readonly UpstreamNode[] {
  const before = new Map(previous.map((n) => [nodeKey(n), n]));
  const byKey = new Map<string, UpstreamNode>();
  for (const n of next) {
    const key = nodeKey(n);
    if (byKey.has(key)) continue;
    const old = before.get(key);
    byKey.set(key, old && sameNode(old, n) ? old : Object.freeze({ ...n }));
  }
  const sorted = [...byKey.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
  if (sorted.length === previous.length && sorted.every((n, i) => n === previous[i])) return previous;
  return Object.freeze(sorted);
}

/** What changed between two lists, by key: the gateway closes idle pools of `removed` nodes. */
export function diffNodes(previous: readonly UpstreamNode[], next: readonly UpstreamNode[]): { added: UpstreamNode[]; removed: UpstreamNode[] } {
  const prevKeys = new Set(previous.map(nodeKey));
  const nextKeys = new Set(next.map(nodeKey));
  return {
    added: next.filter((n) => !prevKeys.has(nodeKey(n))),
    removed: previous.filter((n) => !nextKeys.has(nodeKey(n))),
  };
}

export const NO_NODES: readonly UpstreamNode[] = Object.freeze([]);
