import { ConsulClient } from '../../src/core/consul-client.js';
import type { Logger } from '../../src/core/logger.js';
import type { Lifecycle } from '../../src/core/lifecycle.js';
import type { ResourceKind, Upstream, Route } from '../../src/core/model/index.js';
import type { CentralMirror } from '../central/mirror.js';
import type { ControllerMetrics } from '../metrics.js';
import { ServiceWatch, type ServiceChange, type WatchOptions } from './service-watch.js';

/** Consul service names used by upstreams and by routes' inline upstreams. */
export function watchedServices(mirror: CentralMirror): Set<string> {
  const out = new Set<string>();
  for (const u of mirror.list('upstreams')) {
    const s = (u.value as Upstream).discovery?.service;
    if (s) out.add(s);
  }
  for (const r of mirror.list('routes')) {
    const s = (r.value as Route).upstream?.discovery?.service;
    if (s) out.add(s);
  }
  return out;
}

/**
 * Keeps one ServiceWatch per (region's Consul datacenter, used service) in step with the
 * central config. Runs on the leader only.
 */
export class WatchManager implements Lifecycle {
  private readonly watches = new Map<string, ServiceWatch>();
  private readonly clients = new Map<string, ConsulClient>();
  private readonly onMirror = (kinds: Set<ResourceKind>) => {
    if (kinds.has('upstreams') || kinds.has('routes') || kinds.has('regions')) this.sync();
  };

  constructor(
    private readonly mirror: CentralMirror,
    private readonly opts: WatchOptions,
    private readonly onChange: (c: ServiceChange) => void,
    private readonly metrics: ControllerMetrics,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.mirror.on('change', this.onMirror);
    this.sync();
  }

  private client(http: string): ConsulClient {
    let c = this.clients.get(http);
    if (!c) {
      c = new ConsulClient(http);
      this.clients.set(http, c);
    }
    return c;
  }

  private sync(): void {
    const services = watchedServices(this.mirror);
    const wanted = new Map<string, { http: string; dc: string; service: string }>();
    for (const { value: region } of this.mirror.list('regions')) {
      if (!region.consul) continue;
      for (const service of services) wanted.set(`${region.consul.http}|${region.consul.datacenter}|${service}`, { http: region.consul.http, dc: region.consul.datacenter, service });
    }
    for (const [key, w] of this.watches) {
      if (!wanted.has(key)) {
        w.stop();
        this.watches.delete(key);
      }
    }
    for (const [key, want] of wanted) {
      if (this.watches.has(key)) continue;
      const w = new ServiceWatch(this.client(want.http), want.dc, want.service, this.opts, (c) => {
        this.metrics.consulChanges.inc({ datacenter: c.datacenter });
        this.onChange(c);
      }, () => this.metrics.consulIndexResets.inc({ datacenter: want.dc }), this.log);
      this.watches.set(key, w);
      w.start();
    }
  }

  watching(): Array<{ datacenter: string; service: string }> {
    return [...this.watches.values()].map((w) => ({ datacenter: w.datacenter, service: w.service }));
  }

  async stop(): Promise<void> {
    this.mirror.off('change', this.onMirror);
    for (const w of this.watches.values()) w.stop();
    this.watches.clear();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
