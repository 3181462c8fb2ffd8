import { usable, type Balancer, type BalancerNode } from './types.js';

/** Decay time of the latency average (Finagle/Linkerd use 10 s). */
export const EWMA_TAU_MS = 10_000;

/**
 * Peak-EWMA: a latency average that jumps up at once on a slow answer and decays slowly,
 * then cost = latency x (in-flight + 1) / weight. Picks the cheaper of two random nodes
 * (power of two choices), which avoids herding on the single "best" node.
 */
export class EwmaBalancer<N extends BalancerNode> implements Balancer<N> {
  constructor(private readonly nodes: readonly N[], private readonly random: () => number = Math.random) {}

  select(_hashKey: string | undefined, tried: readonly N[] | undefined, panic: boolean): N | undefined {
    const nodes = this.nodes;
    const len = nodes.length;
    if (len <= 3 || tried !== undefined) return this.scan(tried, panic);
    const a = nodes[Math.floor(this.random() * len)] as N;
    let b = nodes[Math.floor(this.random() * (len - 1))] as N;
    if (b === a) b = nodes[len - 1] as N;
    const ua = usable(a, tried, panic);
    const ub = usable(b, tried, panic);
    if (ua && ub) return cost(a) <= cost(b) ? a : b;
    if (ua) return a;
    if (ub) return b;
    return this.scan(tried, panic);
  }

  private scan(tried: readonly N[] | undefined, panic: boolean): N | undefined {
    let best: N | undefined;
    let bestCost = Infinity;
    for (const n of this.nodes) {
      if (!usable(n, tried, panic)) continue;
      const c = cost(n);
      if (c < bestCost) {
        bestCost = c;
        best = n;
      }
    }
    return best;
  }
}

function cost(n: BalancerNode): number {
  // Unmeasured nodes look as good as a 1 ms node so they get tried.
  return ((n.ewma || 1) * (n.inflight + 1)) / n.weight;
}

/** Peak-EWMA update after a response (ms since the previous sample decide the decay). */
export function observeLatency(n: { ewma: number; ewmaAt: number }, ms: number, now: number): void {
  if (n.ewma === 0 || ms > n.ewma) n.ewma = ms;
  else {
    const w = Math.exp(-(now - n.ewmaAt) / EWMA_TAU_MS);
    n.ewma = n.ewma * w + ms * (1 - w);
  }
  n.ewmaAt = now;
}
