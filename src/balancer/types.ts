/**
 * Every balancer is a small class behind one `select()` (Caddy's selection policies). Nodes
 * carry the live figures balancers read (in-flight count, latency); the balancer never
 * allocates on select.
 */
export interface BalancerNode {
  /** host:port, stable across node-list refreshes. */
  readonly key: string;
  readonly weight: number;
  /** Requests in flight to this node from this worker. */
  inflight: number;
  /** Peak-EWMA of response latency in ms (0 = no sample yet). */
  ewma: number;
  /** False while passively ejected. */
  readonly health: { readonly available: boolean };
}

export interface Balancer<N extends BalancerNode = BalancerNode> {
  /**
   * The node for one request attempt. `hashKey` is what chash hashes (others ignore it);
   * `tried` are nodes already used by earlier attempts of this request (retries go elsewhere);
   * `panic` lets ejected nodes be chosen (too many are ejected: Envoy's panic threshold).
   */
  select(hashKey: string | undefined, tried: readonly N[] | undefined, panic: boolean): N | undefined;
}

/** A node can take this attempt: not ejected (unless panic) and not tried already. */
export function usable<N extends BalancerNode>(n: N, tried: readonly N[] | undefined, panic: boolean): boolean {
  return (panic || n.health.available) && (tried === undefined || !tried.includes(n));
}
