import type { Http2Session } from 'node:http2';
import { createLogger, type Logger } from '../core/logger.js';
import type { Consumer, GatewayConfig, Route } from '../core/model/index.js';
import { builtinRegistry, pluginMetrics, type PluginRegistry } from '../plugins/index.js';
import { PoolManager } from '../upstream/pools.js';
import type { NodeSource } from '../upstream/node-source.js';
import type { Upstream } from '../core/model/index.js';
import type { Registry } from 'prom-client';
import { RuntimeBuilder, type Runtime } from './build.js';
import { resolveConfig } from './config-check.js';
import { applyConfigPatch, routeChanges } from './config-patch.js';
import { listenList, type GatewayProgramConfig } from './config.js';
import { createRequestHandler, requestIdSource, type WorkerContext } from './handler.js';
import { isMeridianMessage, type FromWorker, type PurgeFilter, type ToWorker, type WorkerStatus } from './ipc.js';
import { httpListener, httpsListener, listen, setDefaultCert, type Listener } from './listeners.js';
import { GatewayMetrics } from './metrics.js';
import { createUpgradeHandler } from './upgrade.js';

/** What the discovery module plugs into a worker (src/discovery's DiscoveryManager shape). */
export interface DiscoveryHooks {
  sourceFor(discovery: NonNullable<Upstream['discovery']>): NodeSource;
  purge(filter: PurgeFilter): Promise<unknown>;
  stop(): Promise<void>;
}

const NO_CONSUMERS: readonly Consumer[] = Object.freeze([]);

/** How long a config swap waits for new discovery sources' first answer (they keep trying after). */
const DISCOVERY_START_WAIT_MS = 2_000;

export interface WorkerOptions {
  config: GatewayProgramConfig;
  /** Sends to the primary (process.send in a cluster worker; a direct call in-process). */
  send: (m: FromWorker) => void;
  registry?: PluginRegistry;
  /** Builds the discovery hooks on the worker's metrics registry (src/discovery's DiscoveryManager). */
  discovery?: (registry: Registry, log: Logger) => DiscoveryHooks;
  log?: Logger;
}

/**
 * One worker: public listeners, the current config generation, the proxy. It takes configs
 * from the primary, builds each off the hot path and swaps one reference; it never talks to
 * etcd itself.
 */
export class GatewayWorker implements WorkerContext {
  runtime: Runtime | undefined;
  draining = false;
  readonly maxHeaders: number;
  readonly metrics = new GatewayMetrics();
  readonly unrouted = this.metrics.noRoute;
  readonly log: Logger;
  readonly nextRequestId = requestIdSource();
  private readonly pools = new PoolManager();
  private readonly builder: RuntimeBuilder;
  private readonly registry: PluginRegistry;
  private readonly listeners: Listener[] = [];
  private readonly sessions = new Set<Http2Session>();
  private listening = false;
  private readonly watchedHealth = new WeakSet<object>();
  private readonly discovery: DiscoveryHooks | undefined;

  constructor(private readonly opts: WorkerOptions) {
    this.maxHeaders = opts.config.limits.max_headers;
    this.log = opts.log ?? createLogger('gateway-worker');
    this.registry = opts.registry ?? builtinRegistry();
    this.discovery = opts.discovery?.(this.metrics.registry, this.log);
    const discovery = this.discovery;
    this.builder = new RuntimeBuilder({
      registry: this.registry,
      pools: this.pools,
      metrics: this.metrics,
      discoverySource: discovery ? (u) => discovery.sourceFor(u.discovery as NonNullable<Upstream['discovery']>) : undefined,
      region: opts.config.node.region,
    });
    const { listen: l, limits } = opts.config;
    for (const address of listenList(l.http)) {
      this.listeners.push(httpListener(address, limits, createRequestHandler(this, 'http'), createUpgradeHandler(this, 'http', { maxHeadBytes: limits.max_header_bytes })));
    }
    for (const address of listenList(l.https)) {
      const sni = (name: string) => this.runtime?.tls.lookup(name);
      this.listeners.push(httpsListener(address, limits, l.http2, sni, createRequestHandler(this, 'https') as never, createUpgradeHandler(this, 'https', { maxHeadBytes: limits.max_header_bytes }), this.sessions));
    }
  }

  async start(): Promise<void> {
    // The generation being served owns its consumers array: the same object until the next
    // config, so auth plugins rebuild their credential maps once per config, not per request.
    await this.registry.init({ redisUrl: this.opts.config.redis, log: this.log, consumers: () => this.runtime?.consumers ?? NO_CONSUMERS });
  }

  upstreamSeconds(upstream: string, seconds: number): void {
    this.metrics.upstream(upstream).observe(seconds);
  }

  /** A property, not a method: the plugin chain gets it as it is, bound, with no closure per request. */
  readonly logPluginError = (name: string, err: unknown): void => {
    this.log.error({ plugin: name, err: err instanceof Error ? err.message : String(err) }, 'plugin failed');
  };

  private applying: Promise<void> | undefined;
  private queued: GatewayConfig | undefined;
  /** Routes changed since the last build began, when nothing else did (undefined: build in full). */
  private changedRoutes: Map<string, Route> | undefined;
  /** The config as the primary last sent it (patches apply to it), built or not. */
  private received: GatewayConfig | undefined;

  /**
   * Builds and swaps in a config; the previous generation keeps serving what it started.
   * Configs are applied one at a time, in order; while one is being applied only the newest
   * waiting one is kept (a burst of changes costs one more build, not one per change).
   */
  async applyConfig(config: GatewayConfig, routes?: ReadonlyMap<string, Route>): Promise<void> {
    // Route-only changes accumulate over coalesced configs; anything else means a full build.
    if (routes === undefined) this.changedRoutes = undefined;
    else if (this.queued === undefined) this.changedRoutes = new Map(routes);
    else if (this.changedRoutes !== undefined) for (const [id, r] of routes) this.changedRoutes.set(id, r);
    this.queued = config;
    if (this.applying) return this.applying;
    this.applying = (async () => {
      while (this.queued) {
        const next = this.queued;
        const changed = this.changedRoutes;
        this.queued = undefined;
        this.changedRoutes = undefined;
        await this.applyOne(next, changed);
      }
    })().finally(() => {
      this.applying = undefined;
    });
    return this.applying;
  }

  private async applyOne(config: GatewayConfig, changedRoutes: ReadonlyMap<string, Route> | undefined): Promise<void> {
    let next: Runtime;
    try {
      // The primary checked the config whole; the worker patches its router at the changed
      // routes when only routes changed, else resolves references and builds.
      const patched = changedRoutes !== undefined && this.runtime !== undefined ? this.builder.patchRoutes(config.revision, this.runtime, changedRoutes) : undefined;
      next = patched ?? this.builder.build(resolveConfig(config, this.opts.config.node.region), this.runtime);
    } catch (err) {
      const reason = (err as Error).message;
      this.log.error({ revision: config.revision, reason }, 'config rejected by worker');
      this.opts.send({ type: 'meridian:rejected', revision: config.revision, reason });
      return;
    }
    const old = this.runtime;
    // New node sources (discovery) get their first answer before they serve, within a bound.
    const starting = [...next.upstreams.values()].filter((u) => old?.upstreams.get(u.id) !== u).map((u) => u.nodeSource.start().catch(() => undefined));
    if (starting.length > 0) await Promise.race([Promise.all(starting), new Promise((r) => setTimeout(r, DISCOVERY_START_WAIT_MS).unref())]);
    this.runtime = next; // the atomic swap
    if (old) this.builder.retire(old, next);
    for (const l of this.listeners) if (l.tls) setDefaultCert(l, next.tls.defaultFor(l.port));
    this.metrics.configRevision.set(next.revision);
    this.refreshNodeGauge();
    for (const u of next.upstreams.values()) {
      if (this.watchedHealth.has(u.health)) continue;
      this.watchedHealth.add(u.health);
      u.health.onChange(() => this.refreshNodeGauge());
    }
    if (!this.listening) {
      this.listening = true;
      await Promise.all(this.listeners.map(listen));
    }
    this.opts.send({ type: 'meridian:applied', revision: next.revision, routes: next.routes, buildMs: next.buildMs });
  }

  private refreshNodeGauge(): void {
    const g = this.metrics.upstreamNodes;
    g.reset();
    for (const u of this.runtime?.upstreams.values() ?? []) for (const n of u.status()) g.labels(u.id, n.node, n.state).set(1);
  }

  status(): WorkerStatus {
    const upstreams: WorkerStatus['upstreams'] = {};
    for (const [id, u] of this.runtime?.upstreams ?? []) upstreams[id] = u.status();
    return { pid: process.pid, revision: this.runtime?.revision, routes: this.runtime?.routes ?? 0, build_ms: this.runtime ? Math.round(this.runtime.buildMs * 100) / 100 : undefined, draining: this.draining, memory_mb: memoryMb(), upstreams };
  }

  /** Discovery purge in this worker: resolves when its sources serve the new answers. */
  async purge(filter: PurgeFilter): Promise<void> {
    await this.discovery?.purge(filter);
  }

  async handle(m: ToWorker): Promise<void> {
    switch (m.type) {
      case 'meridian:config':
        this.received = m.config;
        await this.applyConfig(m.config);
        return;
      case 'meridian:config-patch': {
        // Applied on arrival, in message order; the build below may coalesce several.
        let routes: Map<string, Route> | undefined;
        try {
          if (this.received === undefined) throw new Error('no config to patch yet');
          routes = routeChanges(this.received, m.patch);
          this.received = applyConfigPatch(this.received, m.patch);
        } catch (err) {
          // Cannot happen while messages arrive in order; if it does, ask for the whole config.
          this.log.error({ reason: (err as Error).message }, 'config patch not applicable: asking the primary for the whole config');
          this.received = undefined;
          this.opts.send({ type: 'meridian:resync' });
          return;
        }
        await this.applyConfig(this.received, routes);
        return;
      }
      case 'meridian:purge':
        try {
          await this.purge(m.filter);
          this.opts.send({ type: 'meridian:purged', id: m.id });
        } catch (err) {
          this.opts.send({ type: 'meridian:purged', id: m.id, error: (err as Error).message });
        }
        return;
      case 'meridian:status':
        this.opts.send({ type: 'meridian:status', id: m.id, status: this.status() });
        return;
      case 'meridian:draining':
        this.draining = true;
        return;
      case 'meridian:stop':
        await this.stop(m.timeoutMs);
        return;
    }
  }

  /**
   * Graceful stop: no new connections, in-flight requests finish (their responses carry
   * Connection: close), idle keep-alive connections are closed, then everything is released.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.draining = true;
    const closed = Promise.all(this.listeners.map((l) => new Promise<void>((resolve) => {
      if (!l.server.listening) return resolve();
      l.server.close(() => resolve());
    })));
    for (const s of this.sessions) s.close();
    // Idle keep-alive connections close now, busy ones after their current answer.
    for (const l of this.listeners) l.engine.shutdown();
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    await Promise.race([closed, deadline]);
    for (const l of this.listeners) l.engine.close();
    await this.pools.closeAll();
    await this.discovery?.stop().catch(() => undefined);
    await this.registry.close();
  }
}

function memoryMb(): { rss: number; heap_used: number } {
  const m = process.memoryUsage();
  return { rss: Math.round(m.rss / 1048576), heap_used: Math.round(m.heapUsed / 1048576) };
}

/** Runs a worker inside a node:cluster worker process, talking to the primary over IPC. */
export async function runClusterWorker(config: GatewayProgramConfig, discovery?: WorkerOptions['discovery']): Promise<number> {
  const send = (m: FromWorker): void => {
    if (process.connected) process.send?.(m);
  };
  const worker = new GatewayWorker({ config, send, ...(discovery ? { discovery } : {}) });
  // The plugins' metrics are summed over workers by the primary like the gateway's own.
  GatewayMetrics.enableClusterCollection(worker.metrics.registry, pluginMetrics);
  await worker.start();
  // Signals go to the primary, which orchestrates the drain; a worker only obeys its primary.
  process.on('SIGTERM', () => undefined);
  process.on('SIGINT', () => undefined);
  return new Promise<number>((resolve) => {
    process.on('message', (m: unknown) => {
      if (!isMeridianMessage(m)) return;
      const msg = m as ToWorker;
      worker.handle(msg).then(
        () => {
          if (msg.type === 'meridian:stop') resolve(0);
        },
        (err: unknown) => worker.log.error({ err: (err as Error).message }, 'worker message failed'),
      );
    });
    // Orphaned (primary gone): stop serving rather than run unmanaged.
    process.on('disconnect', () => {
      worker.stop(1_000).finally(() => resolve(0));
    });
    send({ type: 'meridian:ready' });
  });
}
