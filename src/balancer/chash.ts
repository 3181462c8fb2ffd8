import { createHash } from 'node:crypto';
import { usable, type Balancer, type BalancerNode } from './types.js';

/** Ring points per unit of weight; more points = smoother spread, larger ring. */
export const POINTS_PER_WEIGHT = 100;
const MAX_POINTS_PER_NODE = 2_000;

/**
 * Consistent hash ring (Ketama style). Each node's points are derived from its host:port
 * only, so adding or removing a node moves just the keys that landed on its points (about
 * 1/n of them); every other key keeps its node. An unusable node's keys walk on clockwise
 * to the next usable node.
 */
export class ConsistentHashBalancer<N extends BalancerNode> implements Balancer<N> {
  private readonly points: Uint32Array;
  private readonly owners: Uint32Array;
  private readonly fallback = { i: 0 };

  constructor(private readonly nodes: readonly N[]) {
    const pairs: Array<[number, number]> = [];
    nodes.forEach((n, idx) => {
      const count = Math.min(MAX_POINTS_PER_NODE, Math.max(1, n.weight) * POINTS_PER_WEIGHT);
      // One md5 gives four 32-bit points (Ketama), keeping the build fast for big rings.
      for (let i = 0; i < count; i += 4) {
        const d = createHash('md5').update(`${n.key}#${i / 4}`).digest();
        for (let j = 0; j < 4 && i + j < count; j++) pairs.push([d.readUInt32LE(j * 4), idx]);
      }
    });
    pairs.sort((a, b) => a[0] - b[0]);
    this.points = Uint32Array.from(pairs, (p) => p[0]);
    this.owners = Uint32Array.from(pairs, (p) => p[1]);
  }

  select(hashKey: string | undefined, tried: readonly N[] | undefined, panic: boolean): N | undefined {
    const len = this.points.length;
    if (len === 0) return undefined;
    // No key (missing header/cookie): spread by rotation rather than pile onto one node.
    const h = hashKey === undefined ? (this.fallback.i = (this.fallback.i + 2654435761) >>> 0) : hash32(hashKey);
    let lo = 0;
    let hi = len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.points[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    for (let k = 0; k < len; k++) {
      const n = this.nodes[this.owners[(lo + k) % len] as number] as N;
      if (usable(n, tried, panic)) return n;
    }
    return undefined;
  }
}

/** FNV-1a with a murmur3 finaliser: fast, and well spread over the 32-bit ring. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
