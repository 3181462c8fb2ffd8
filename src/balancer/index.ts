import type { Upstream } from '../core/model/index.js';
import { ConsistentHashBalancer } from './chash.js';
import { EwmaBalancer } from './ewma.js';
import { LeastConnBalancer } from './least-conn.js';
import { RoundRobinBalancer } from './roundrobin.js';
import type { Balancer, BalancerNode } from './types.js';

export type { Balancer, BalancerNode } from './types.js';
export { observeLatency } from './ewma.js';
export { hash32 } from './chash.js';

/** The balancer an upstream's `type` names. */
export function createBalancer<N extends BalancerNode>(type: Upstream['type'], nodes: readonly N[]): Balancer<N> {
  switch (type) {
    case 'least_conn':
      return new LeastConnBalancer(nodes);
    case 'ewma':
      return new EwmaBalancer(nodes);
    case 'chash':
      return new ConsistentHashBalancer(nodes);
    default:
      return new RoundRobinBalancer(nodes);
  }
}
