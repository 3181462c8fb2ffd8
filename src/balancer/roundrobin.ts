import { usable, type Balancer, type BalancerNode } from './types.js';

/**
 * Smooth weighted round robin (nginx): each pick adds every node's weight to its current
 * score, takes the highest and subtracts the total, so weights 5,1,1 give a,a,b,a,c,a,a —
 * spread out, never bursts of the heavy node.
 */
export class RoundRobinBalancer<N extends BalancerNode> implements Balancer<N> {
  private readonly current: Float64Array;

  constructor(private readonly nodes: readonly N[]) {
    this.current = new Float64Array(nodes.length);
  }

  select(_hashKey: string | undefined, tried: readonly N[] | undefined, panic: boolean): N | undefined {
    const nodes = this.nodes;
    if (nodes.length === 1) {
      const only = nodes[0] as N;
      return usable(only, tried, panic) ? only : undefined;
    }
    let total = 0;
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i] as N;
      if (!usable(n, tried, panic)) continue;
      const score = (this.current[i] as number) + n.weight;
      this.current[i] = score;
      total += n.weight;
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    if (best === -1) return undefined;
    this.current[best] = (this.current[best] as number) - total;
    return nodes[best];
  }
}
