/**
 * DNS state from central etcd: regions, virtual domains, bindings and prober observations.
 * Snapshot each prefix, then watch it from the snapshot's revision + 1 so no change falls in
 * between; every change rebuilds the topology off the query path. The state is also written
 * to a file, so a DNS server that starts while etcd is down answers from its last state.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { Region, VDomain, Binding } from '../src/core/model/index.js';
import type { EtcdStore, StoreWatch, WatchEvent } from '../src/core/etcd-store.js';
import type { HealthObservation } from '../src/core/keys.js';
import type { Lifecycle } from '../src/core/lifecycle.js';
import type { Logger } from '../src/core/logger.js';
import { check } from '../src/core/validate.js';
import { buildTopology, type Topology } from './topology.js';
import { nodeKey, type NodeKey } from './health-quorum.js';

interface DiskSnapshot {
  version: 1;
  saved_at: string;
  revision: number;
  regions: unknown[];
  vdomains: unknown[];
  bindings: unknown[];
  health: HealthObservation[];
}

export interface StateSourceOptions {
  store: EtcdStore;
  log: Logger;
  snapshotFile?: string;
  /** Called after every rebuild with the old and the new topology. */
  onChange?: (next: Topology, prev: Topology) => void;
  /** Called with true/false as the etcd connection comes and goes. */
  onEtcd?: (up: boolean) => void;
}

const PREFIXES = ['regions/', 'vdomains/', 'bindings/', 'health/'] as const;

function isObservation(v: unknown): v is HealthObservation {
  const o = v as Partial<HealthObservation> | null;
  return typeof o === 'object' && o !== null && typeof o.up === 'boolean' && typeof o.node === 'object' && o.node !== null;
}

export class StateSource implements Lifecycle {
  private readonly regions = new Map<string, Region>();
  private readonly vdomains = new Map<string, VDomain>();
  private readonly bindings = new Map<string, Binding>();
  private readonly observations = new Map<string, Map<NodeKey, HealthObservation>>();
  private revision = 0;
  private topo: Topology;
  private watches: StoreWatch[] = [];
  private stopped = false;
  private connected = false;
  private from: 'empty' | 'disk' | 'etcd' = 'empty';
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private saveTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: StateSourceOptions) {
    this.topo = this.build();
  }

  current(): Topology {
    return this.topo;
  }

  status(): { source: 'empty' | 'disk' | 'etcd'; etcd: boolean; revision: number } {
    return { source: this.from, etcd: this.connected, revision: this.revision };
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.loadDisk();
    // Never block on etcd: an authoritative server that cannot start while etcd is down would
    // turn an etcd outage into a DNS outage. It connects in the background and retries.
    if (this.from === 'disk') void this.connect();
    else await this.connect();
    this.pingTimer = setInterval(() => void this.ping(), 2_000);
    this.pingTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveDisk();
    }
    await this.dropWatches();
  }

  private async dropWatches(): Promise<void> {
    const ws = this.watches;
    this.watches = [];
    await Promise.all(ws.map((w) => w.stop().catch(() => undefined)));
  }

  private setConnected(up: boolean): void {
    if (up === this.connected) return;
    this.connected = up;
    this.opts.onEtcd?.(up);
    if (up) this.opts.log.info('etcd connected');
    else this.opts.log.warn('etcd unreachable: answering from the last known state');
  }

  private async ping(): Promise<void> {
    if (this.stopped || this.watches.length === 0) return;
    try {
      await this.opts.store.revision();
      this.setConnected(true);
    } catch {
      this.setConnected(false);
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const snaps = await Promise.all(PREFIXES.map((p) => this.opts.store.snapshot(p)));
      this.regions.clear();
      this.vdomains.clear();
      this.bindings.clear();
      this.observations.clear();
      let revision = 0;
      snaps.forEach((snap) => {
        revision = Math.max(revision, snap.revision);
        for (const e of snap.entries.values()) this.apply({ type: 'put', key: e.key, value: e.value, modRevision: e.modRevision });
      });
      this.revision = revision;
      this.from = 'etcd';
      this.rebuild();
      // The etcd3 watcher reconnects by itself and resumes after the last revision it saw.
      this.watches = await Promise.all(
        PREFIXES.map((p, i) =>
          this.opts.store.watch(
            p,
            (snaps[i]?.revision ?? 0) + 1,
            (events) => this.onEvents(events),
            (err) => this.opts.log.warn({ err: err.message, prefix: p }, 'etcd watch error'),
          ),
        ),
      );
      this.setConnected(true);
    } catch (err) {
      await this.dropWatches();
      this.setConnected(false);
      this.opts.log.warn({ err: (err as Error).message, source: this.from }, 'cannot load state from etcd; retrying');
      if (!this.stopped) {
        this.retryTimer = setTimeout(() => void this.connect(), 1_000);
        this.retryTimer.unref();
      }
    }
  }

  private onEvents(events: WatchEvent[]): void {
    for (const ev of events) {
      this.apply(ev);
      this.revision = Math.max(this.revision, ev.modRevision);
    }
    this.setConnected(true);
    this.rebuild();
  }

  private validated<T extends TSchema>(schema: T, key: string, value: unknown) {
    const res = check(schema, value, key);
    if (!res.ok) this.opts.log.warn({ key, field: res.field, reason: res.reason }, 'invalid value in etcd ignored');
    return res.ok ? res.value : undefined;
  }

  private apply(ev: WatchEvent): void {
    const [kind, ...rest] = ev.key.split('/');
    const name = rest.join('/');
    if (kind === 'health') {
      const [prober, region, cluster, node] = rest;
      if (!prober || !region || !cluster || !node) return;
      const k = nodeKey(region, cluster, node);
      let m = this.observations.get(prober);
      if (ev.type === 'delete') {
        m?.delete(k);
        if (m && m.size === 0) this.observations.delete(prober);
        return;
      }
      if (!isObservation(ev.value)) return;
      if (!m) this.observations.set(prober, (m = new Map()));
      m.set(k, ev.value);
      return;
    }
    const table = kind === 'regions' ? this.regions : kind === 'vdomains' ? this.vdomains : kind === 'bindings' ? this.bindings : undefined;
    if (!table || name === '') return;
    if (ev.type === 'delete') {
      table.delete(kind === 'vdomains' ? name.toLowerCase() : name);
      return;
    }
    if (kind === 'regions') {
      const v = this.validated(Region, ev.key, ev.value);
      if (v) this.regions.set(name, v);
    } else if (kind === 'vdomains') {
      const v = this.validated(VDomain, ev.key, ev.value);
      if (v) this.vdomains.set(v.uuid.toLowerCase(), v);
    } else {
      const v = this.validated(Binding, ev.key, ev.value);
      if (v) this.bindings.set(name, v);
    }
  }

  private build(): Topology {
    return buildTopology({ revision: this.revision, regions: this.regions, vdomains: this.vdomains, bindings: this.bindings, observations: this.observations });
  }

  private rebuild(): void {
    const prev = this.topo;
    this.topo = this.build();
    this.opts.onChange?.(this.topo, prev);
    this.scheduleSave();
  }

  // ---- disk snapshot ----

  private scheduleSave(): void {
    if (!this.opts.snapshotFile || this.saveTimer) return;
    // Coalesce bursts (health flaps) into one write a second at most.
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.saveDisk();
    }, 1_000);
    this.saveTimer.unref();
  }

  private saveDisk(): void {
    const file = this.opts.snapshotFile;
    if (!file) return;
    const snap: DiskSnapshot = {
      version: 1,
      saved_at: new Date().toISOString(),
      revision: this.revision,
      regions: [...this.regions.values()],
      vdomains: [...this.vdomains.values()],
      bindings: [...this.bindings.values()],
      health: [...this.observations.values()].flatMap((m) => [...m.values()]),
    };
    try {
      mkdirSync(dirname(file), { recursive: true });
      // Write then rename: a crash mid-write never leaves a torn snapshot behind.
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(snap));
      renameSync(tmp, file);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, file }, 'cannot write state snapshot');
    }
  }

  private loadDisk(): void {
    const file = this.opts.snapshotFile;
    if (!file) return;
    let snap: DiskSnapshot;
    try {
      snap = JSON.parse(readFileSync(file, 'utf8')) as DiskSnapshot;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.log.warn({ err: (err as Error).message, file }, 'state snapshot unreadable; ignored');
      return;
    }
    if (snap.version !== 1) return;
    for (const r of snap.regions ?? []) this.apply({ type: 'put', key: `regions/${(r as Region).name}`, value: r, modRevision: snap.revision });
    for (const v of snap.vdomains ?? []) this.apply({ type: 'put', key: `vdomains/${(v as VDomain).uuid}`, value: v, modRevision: snap.revision });
    for (const b of snap.bindings ?? []) this.apply({ type: 'put', key: `bindings/${(b as Binding).domain}`, value: b, modRevision: snap.revision });
    for (const h of snap.health ?? []) {
      if (isObservation(h)) this.apply({ type: 'put', key: `health/${h.prober}/${h.node.region}/${h.node.cluster}/${h.node.name}`, value: h, modRevision: snap.revision });
    }
    this.revision = snap.revision;
    this.from = 'disk';
    this.topo = this.build();
    this.opts.log.info({ file, revision: snap.revision, saved_at: snap.saved_at }, 'state loaded from snapshot');
  }
}
