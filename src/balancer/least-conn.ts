import { usable, type Balancer, type BalancerNode } from './types.js';

/** Fewest requests in flight relative to weight; ties rotate so equal nodes share the load. */
export class LeastConnBalancer<N extends BalancerNode> implements Balancer<N> {
  private start = 0;

  constructor(private readonly nodes: readonly N[]) {}

  select(_hashKey: string | undefined, tried: readonly N[] | undefined, panic: boolean): N | undefined {
    const nodes = this.nodes;
    const len = nodes.length;
    if (len === 0) return undefined;
    this.start = (this.start + 1) % len;
    let best: N | undefined;
    let bestScore = Infinity;
    for (let k = 0; k < len; k++) {
      const n = nodes[(this.start + k) % len] as N;
      if (!usable(n, tried, panic)) continue;
      const score = (n.inflight + 1) / n.weight;
      if (score < bestScore) {
        bestScore = score;
        best = n;
      }
    }
    return best;
  }
}
