import type { Upstream, UpstreamNode } from '../core/model/index.js';
import { createBalancer, type Balancer } from '../balancer/index.js';
import type { PassiveHealthTracker} from './health.js';
import { PASSIVE_DEFAULTS, type HealthState } from './health.js';
import type { NodeSource } from './node-source.js';
import type { NodePool, PoolManager } from './pools.js';

/** One node of one upstream as the proxy and balancers see it. */
export interface RuntimeNode {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** An Http1Pool for `scheme: http`, an undici Pool for `https` (PoolManager decides). */
  readonly pool: NodePool;
  readonly poolKey: string;
  /** Host header sent when pass_host is `node`. */
  readonly hostHeader: string;
  readonly health: HealthState;
  inflight: number;
  ewma: number;
  ewmaAt: number;
}

export interface NodeStatus {
  node: string;
  weight: number;
  state: 'healthy' | 'ejected';
  inflight: number;
  ejected_until?: string;
  ewma_ms: number;
}

/** Timeouts resolved for one upstream (the model's defaults apply when unset). */
export interface ResolvedTimeouts {
  connect: number;
  send: number;
  read: number;
}

export const DEFAULT_TIMEOUTS: ResolvedTimeouts = { connect: 5_000, send: 60_000, read: 60_000 };

/**
 * An upstream at run time: its node source, its nodes with their pools, its balancer, its
 * passive health. The node list is replaced whole (new arrays, new balancer) when the
 * source reports a change; a request holds the node it was given, so a swap never breaks it.
 */
export class RuntimeUpstream {
  readonly id: string;
  readonly timeouts: ResolvedTimeouts;
  readonly retries: number;
  readonly passHost: Upstream['pass_host'];
  readonly upstreamHost: string | undefined;
  readonly hashOn: Upstream['hash_on'];
  /** Only the peak-EWMA balancer reads latencies: others skip the bookkeeping. */
  readonly latencyAware: boolean;
  private nodes: RuntimeNode[] = [];
  private standby: RuntimeNode[] = [];
  private balancer: Balancer<RuntimeNode>;
  private standbyBalancer: Balancer<RuntimeNode>;
  /** More than panic_threshold of the nodes are ejected: choose among all of them. */
  panic = false;
  private unsubscribe: (() => void) | undefined;
  private unhealth: (() => void) | undefined;
  private disposed = false;

  constructor(
    readonly spec: Upstream,
    private readonly source: NodeSource,
    private readonly pools: PoolManager,
    readonly health: PassiveHealthTracker,
    private readonly onNodesChanged: (u: RuntimeUpstream) => void = () => undefined,
  ) {
    this.id = spec.id;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...spec.timeout };
    this.retries = spec.retries ?? 1;
    this.passHost = spec.pass_host ?? 'pass';
    this.upstreamHost = spec.upstream_host;
    this.hashOn = spec.hash_on;
    this.latencyAware = spec.type === 'ewma';
    health.settings = { ...PASSIVE_DEFAULTS, ...spec.checks?.passive };
    this.balancer = createBalancer<RuntimeNode>(spec.type ?? 'roundrobin', []);
    this.standbyBalancer = createBalancer<RuntimeNode>('roundrobin', []);
    this.setNodes(source.current());
    this.unsubscribe = source.subscribe((nodes) => {
      if (!this.disposed) this.setNodes(nodes);
    });
    this.unhealth = health.onChange(() => this.updatePanic());
  }

  /** Replaces the node list; pools of departed nodes are released (closed once idle). */
  setNodes(list: readonly UpstreamNode[]): void {
    const old = new Map([...this.nodes, ...this.standby].map((n) => [n.key, n]));
    const next: RuntimeNode[] = [];
    for (const n of list) {
      const key = `${n.host}:${n.port}`;
      const prev = old.get(key);
      if (prev && prev.weight === n.weight) {
        old.delete(key);
        next.push(prev);
        continue;
      }
      next.push(this.makeNode(n, key));
    }
    this.nodes = next.filter((n) => n.weight > 0);
    this.standby = next.filter((n) => n.weight === 0).map((n) => ({ ...n, weight: 1 }));
    this.balancer = createBalancer(this.spec.type ?? 'roundrobin', this.nodes);
    this.standbyBalancer = createBalancer('roundrobin', this.standby);
    for (const gone of old.values()) this.pools.release(gone.poolKey);
    this.health.prune(new Set(next.map((n) => n.key)));
    this.updatePanic();
    this.onNodesChanged(this);
  }

  private makeNode(n: UpstreamNode, key: string): RuntimeNode {
    const scheme = this.spec.scheme ?? 'http';
    const { key: poolKey, pool } = this.pools.acquire({
      scheme,
      host: n.host,
      port: n.port,
      connections: this.spec.keepalive?.connections ?? 64,
      idleTimeoutMs: this.spec.keepalive?.idle_timeout ?? 60_000,
      connectTimeoutMs: this.timeouts.connect,
      servername: scheme === 'https' ? (this.spec.upstream_host ?? n.host) : undefined,
    });
    const defaultPort = scheme === 'https' ? 443 : 80;
    return {
      key,
      host: n.host,
      port: n.port,
      weight: n.weight ?? 1,
      pool,
      poolKey,
      hostHeader: n.port === defaultPort ? n.host : key,
      health: this.health.state(key),
      inflight: 0,
      ewma: 0,
      ewmaAt: 0,
    };
  }

  private updatePanic(): void {
    const all = this.nodes.length;
    let ejected = 0;
    for (const n of this.nodes) if (!n.health.available) ejected++;
    this.panic = all > 0 && ejected / all > this.health.settings.panic_threshold;
  }

  /** A node for one attempt, or undefined when none can take it (503). */
  select(hashKey: string | undefined, tried: readonly RuntimeNode[] | undefined): RuntimeNode | undefined {
    return this.balancer.select(hashKey, tried, this.panic) ?? (this.standby.length > 0 ? this.standbyBalancer.select(hashKey, tried, this.panic) : undefined);
  }

  get nodeCount(): number {
    return this.nodes.length + this.standby.length;
  }

  status(): NodeStatus[] {
    return [...this.nodes, ...this.standby].map((n) => ({
      node: n.key,
      weight: n.weight,
      state: n.health.available ? 'healthy' : 'ejected',
      inflight: n.inflight,
      ewma_ms: Math.round(n.ewma * 100) / 100,
      ...(n.health.available ? {} : { ejected_until: new Date(n.health.ejectedUntil).toISOString() }),
    }));
  }

  /** The node source (purge and discovery use it). */
  get nodeSource(): NodeSource {
    return this.source;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.unsubscribe?.();
    this.unhealth?.();
    for (const n of [...this.nodes, ...this.standby]) this.pools.release(n.poolKey);
    this.nodes = [];
    this.standby = [];
  }
}
