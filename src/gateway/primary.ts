import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { Server } from 'node:http';
import { AggregatorRegistry } from 'prom-client';
import { EtcdStore } from '../core/etcd-store.js';
import { isMeridianError } from '../core/errors/index.js';
import type { Logger } from '../core/logger.js';
import type { GatewayConfig } from '../core/model/index.js';
import { builtinRegistry, type PluginRegistry } from '../plugins/index.js';
import { createAdminServer, type AdminBackend, type PurgeResult } from './admin.js';
import { ConfigChecker, dryRun, type CheckedConfig } from './config-check.js';
import { guardReplacement, type GuardView } from './config-guard.js';
import { diffConfig, isEmptyPatch } from './config-patch.js';
import { listenList, splitHostPort, type GatewayProgramConfig } from './config.js';
import { isMeridianMessage, type FromWorker, type PurgeFilter, type ToWorker, type WorkerStatus } from './ipc.js';
import { NodeRegistrar } from './registration.js';
import { defaultSnapshotFile, readSnapshot, tightenSnapshot, writeSnapshot } from './snapshot.js';
import { EtcdConfigSource } from './sources/etcd-source.js';
import { FileConfigSource } from './sources/file-source.js';
import type { ConfigSource } from './sources/types.js';

const VERSION = '0.1.0';

type Origin = 'etcd' | 'file' | 'snapshot' | 'empty';

interface WorkerSlot {
  worker: Worker;
  ready: boolean;
  revision: number | undefined;
  lastRejection: string | undefined;
}

interface Pending<T> {
  expect: Set<number>;
  results: Map<number, T>;
  done: () => void;
}

/** At most one snapshot write per this interval under churn (the first change is written at once). */
const SNAPSHOT_INTERVAL_MS = 1_000;

/**
 * The gateway primary: owns the one config source (etcd watch or file) and the node's etcd
 * registration, validates each snapshot whole, persists the last good one, hands it to the
 * workers over IPC, restarts crashed workers, serves the admin endpoints and runs the drain.
 * It serves no public traffic itself.
 */
export class GatewayPrimary implements AdminBackend {
  private readonly slots = new Map<number, WorkerSlot>();
  private readonly registry: PluginRegistry = builtinRegistry();
  /** Checks what the source hands over by its changes to the last accepted config. */
  private readonly checker: ConfigChecker;
  private readonly aggregator = new AggregatorRegistry();
  private current: GatewayConfig | undefined;
  /** Routes of `current` this node serves (enabled, in its region): what the guard protects. */
  private currentRoutes = 0;
  /** The snapshot read at boot, checked: the guard's reference until a config is served. */
  private baseline: { config: GatewayConfig; routes: number; savedAt: string } | undefined;
  private origin: Origin | undefined;
  private lastRejection: { code: string; reason: string; at: string; revision: number | undefined } | undefined;
  private sourceError: { reason: string; at: string } | undefined;
  private source: ConfigSource | undefined;
  private store: EtcdStore | undefined;
  private registrar: NodeRegistrar | undefined;
  private admin: Server | undefined;
  private draining = false;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private lastSnapshotAt = 0;
  private stopping = false;
  private seq = 0;
  private readonly pendingPurges = new Map<number, Pending<string | undefined>>();
  private readonly pendingStatus = new Map<number, Pending<WorkerStatus>>();
  private restarts = 0;
  private readonly startedAt = new Date().toISOString();
  readonly snapshotFile: string;
  readonly tokenHash: string | undefined;
  private exitResolve: ((code: number) => void) | undefined;

  constructor(private readonly config: GatewayProgramConfig, private readonly log: Logger) {
    this.snapshotFile = resolve(config.config.snapshot_file ?? defaultSnapshotFile(config.node));
    this.tokenHash = config.admin.token_hash?.toLowerCase();
    this.checker = new ConfigChecker(this.registry, config.node.region);
  }

  /** Starts everything; resolves with the exit code once the node has drained and stopped. */
  async run(): Promise<number> {
    const exited = new Promise<number>((r) => (this.exitResolve = r));
    const { config: cc } = this.config;
    if (cc.etcd) this.store = new EtcdStore({ endpoints: cc.etcd.endpoints, prefix: cc.etcd.prefix, timeoutMs: cc.etcd.timeout_ms });
    if (cc.source === 'file') {
      if (!cc.file) throw new Error('config.file is required when config.source is file');
      this.source = new FileConfigSource(cc.file, cc.debounce_ms);
    } else {
      if (!this.store) throw new Error('config.etcd is required when config.source is etcd');
      this.source = new EtcdConfigSource(this.store, { debounceMs: cc.debounce_ms });
    }
    this.source.onSnapshot((raw) => this.offer(raw, this.source?.kind ?? 'file'));
    this.source.onError((reason) => {
      this.sourceError = { reason, at: new Date().toISOString() };
      this.log.warn({ source: this.source?.kind, reason }, 'config source unavailable; serving the last good config');
    });
    // Read before the source: what the source hands over at boot is judged against it.
    this.loadSnapshot();
    await this.source.start();
    if (!this.current) this.bootFromSnapshot();

    cluster.setupPrimary({
      silent: false,
      // Structured clone instead of JSON for IPC: a 10,000-route snapshot is not turned into
      // one multi-megabyte string per worker. A smaller young generation keeps a worker's
      // RSS close to what it holds (request garbage dies young either way).
      serialization: 'advanced',
      execArgv: [...process.execArgv.filter((a) => !a.startsWith('--max-semi-space-size')), '--max-semi-space-size=8'],
    });
    cluster.on('message', (worker, m: unknown) => this.onWorkerMessage(worker, m));
    cluster.on('exit', (worker, code, signal) => this.onWorkerExit(worker, code, signal));
    const n = this.config.workers > 0 ? this.config.workers : availableParallelism();
    for (let i = 0; i < n; i++) this.fork();

    this.admin = createAdminServer(this);
    const { host, port } = splitHostPort(this.config.admin.listen);
    await new Promise<void>((res, rej) => {
      this.admin?.once('error', rej);
      this.admin?.listen({ host, port }, () => res());
    });

    if (this.store) {
      const l = this.config.listen;
      const address = l.public_address ?? listenList(l.http)[0] ?? listenList(l.https)[0] ?? '';
      this.registrar = new NodeRegistrar(this.store, this.config.registration.ttl_s, {
        name: this.config.node.name,
        cluster: this.config.node.cluster,
        region: this.config.node.region,
        address,
        admin: `http://${this.config.admin.listen}`,
        version: VERSION,
        config_revision: this.current?.revision ?? 0,
        started_at: this.startedAt,
      }, this.log);
      this.registrar.start();
    }
    process.on('SIGTERM', () => void this.drain('SIGTERM'));
    process.on('SIGINT', () => void this.drain('SIGINT'));
    this.log.info({ workers: n, admin: this.config.admin.listen, http: this.config.listen.http, https: this.config.listen.https, source: this.source.kind }, 'gateway started');
    return exited;
  }

  /** The snapshot file, made private and checked; kept as the baseline (served only if the source delivers nothing acceptable). */
  private loadSnapshot(): void {
    try {
      tightenSnapshot(this.snapshotFile);
    } catch (err) {
      this.log.warn({ file: this.snapshotFile, err: (err as Error).message }, 'cannot restrict the snapshot file to this user');
    }
    const snap = readSnapshot(this.snapshotFile);
    if (!snap) return;
    try {
      const checked = dryRun(snap.config, this.registry, this.config.node.region);
      this.baseline = { config: checked.config, routes: checked.routes.length, savedAt: snap.saved_at };
    } catch (err) {
      this.log.error({ file: this.snapshotFile, reason: (err as Error).message }, 'snapshot file holds an invalid config; ignored');
    }
  }

  private bootFromSnapshot(): void {
    const snap = this.baseline;
    if (snap) {
      this.log.warn({ file: this.snapshotFile, saved_at: snap.savedAt, revision: snap.config.revision }, 'booting from the last-known-good snapshot');
      this.accept(snap.config, snap.routes, 'snapshot');
    } else {
      this.log.warn('no config yet: serving an empty one until the source delivers');
      this.offer({}, 'empty');
    }
  }

  /** What the node serves, or while it boots the snapshot it would fall back to. */
  private served(): GuardView | undefined {
    if (this.current) return { revision: this.current.revision, routes: this.currentRoutes };
    return this.baseline && { revision: this.baseline.config.revision, routes: this.baseline.routes };
  }

  /**
   * A raw snapshot: accepted whole, or rejected whole with the reason kept. What a source
   * hands over must also pass the guard (no empty source, no older revision, no silent loss
   * of every route): a truncated file or a wiped prefix must not replace what is served.
   */
  private offer(raw: unknown, origin: Origin): void {
    let checked: CheckedConfig;
    try {
      const fromSource = origin === 'etcd' || origin === 'file';
      const what = this.source?.description ?? 'the config source';
      if (fromSource && raw === undefined) guardReplacement(this.served(), undefined, what);
      checked = this.checker.check(raw);
      const { config } = checked;
      if (fromSource) guardReplacement(this.served(), { revision: config.revision, routes: checked.routes.length, allowEmpty: config.allow_empty }, what);
    } catch (err) {
      const revision = typeof raw === 'object' && raw !== null ? Number((raw as { revision?: unknown }).revision ?? NaN) : NaN;
      const code = isMeridianError(err) ? err.code : 'MERIDIAN_ERR_GATEWAY_CONFIG_REJECTED';
      this.lastRejection = { code, reason: (err as Error).message, at: new Date().toISOString(), revision: Number.isFinite(revision) ? revision : undefined };
      this.log.error({ origin, code, reason: this.lastRejection.reason }, 'config rejected; the last good config keeps serving');
      return;
    }
    this.accept(checked.config, checked.routes.length, origin);
  }

  private accept(config: GatewayConfig, routes: number, origin: Origin): void {
    const prev = this.current;
    const patch = prev === undefined ? undefined : diffConfig(prev, config);
    if (prev !== undefined && (patch === undefined ? JSON.stringify(config) === JSON.stringify(prev) : isEmptyPatch(prev, patch))) {
      // The source confirms what a snapshot boot served: the node now serves the source's config.
      if (origin === 'etcd' || origin === 'file') this.origin = origin;
      return;
    }
    this.current = config;
    this.currentRoutes = routes;
    this.origin = origin;
    if (origin === 'etcd' || origin === 'file') this.saveSnapshot();
    this.log.info({ origin, revision: config.revision, routes: config.routes.length, upstreams: config.upstreams.length }, 'config accepted');
    // Ready workers hold `prev`: a patch is enough (a worker that becomes ready gets the whole).
    const message: ToWorker = patch === undefined ? { type: 'meridian:config', config } : { type: 'meridian:config-patch', patch };
    for (const slot of this.slots.values()) if (slot.ready) this.send(slot.worker, message);
  }

  /**
   * The accepted config to the snapshot file: at once, then at most once per
   * SNAPSHOT_INTERVAL_MS with the newest (route churn would otherwise write 10,000 routes ten
   * times a second), and on stop. A crash loses at most the last second of changes, which
   * etcd still has.
   */
  private saveSnapshot(): void {
    if (this.snapshotTimer) return;
    const wait = this.lastSnapshotAt + SNAPSHOT_INTERVAL_MS - Date.now();
    if (wait <= 0) this.writeSnapshotNow();
    else this.snapshotTimer = setTimeout(() => this.writeSnapshotNow(), wait).unref();
  }

  private writeSnapshotNow(): void {
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
    this.snapshotTimer = undefined;
    this.lastSnapshotAt = Date.now();
    if (!this.current) return;
    try {
      writeSnapshot(this.snapshotFile, this.current);
    } catch (err) {
      this.log.warn({ file: this.snapshotFile, err: (err as Error).message }, 'cannot write snapshot');
    }
  }

  /** The registration says what the node serves: the revision every worker has applied. */
  private updateRegistration(): void {
    const revisions = [...this.slots.values()].map((s) => s.revision);
    if (revisions.length === 0 || revisions.some((r) => r === undefined)) return;
    this.registrar?.update({ config_revision: Math.min(...(revisions as number[])) });
  }

  private fork(): void {
    const worker = cluster.fork({ MERIDIAN_GATEWAY_ROLE: 'worker' });
    this.slots.set(worker.id, { worker, ready: false, revision: undefined, lastRejection: undefined });
  }

  private send(worker: Worker, m: ToWorker): void {
    if (worker.isConnected()) worker.send(m);
  }

  private onWorkerMessage(worker: Worker, m: unknown): void {
    if (!isMeridianMessage(m)) return;
    const slot = this.slots.get(worker.id);
    if (!slot) return;
    const msg = m as FromWorker;
    switch (msg.type) {
      case 'meridian:ready':
        slot.ready = true;
        if (this.current) this.send(worker, { type: 'meridian:config', config: this.current });
        if (this.draining) this.send(worker, { type: 'meridian:draining' });
        return;
      case 'meridian:resync':
        if (this.current) this.send(worker, { type: 'meridian:config', config: this.current });
        return;
      case 'meridian:applied':
        slot.revision = msg.revision;
        slot.lastRejection = undefined;
        this.updateRegistration();
        return;
      case 'meridian:rejected':
        slot.lastRejection = msg.reason;
        return;
      case 'meridian:purged': {
        const p = this.pendingPurges.get(msg.id);
        if (p && p.expect.has(worker.id)) {
          p.results.set(worker.id, msg.error);
          if (p.results.size === p.expect.size) p.done();
        }
        return;
      }
      case 'meridian:status': {
        const p = this.pendingStatus.get(msg.id);
        if (p && p.expect.has(worker.id)) {
          p.results.set(worker.id, msg.status);
          if (p.results.size === p.expect.size) p.done();
        }
        return;
      }
    }
  }

  private onWorkerExit(worker: Worker, code: number | null, signal: string | null): void {
    this.slots.delete(worker.id);
    for (const p of [...this.pendingPurges.values(), ...this.pendingStatus.values()]) {
      if (p.expect.delete(worker.id) && (p.results.size as number) >= p.expect.size) p.done();
    }
    if (this.stopping) {
      if (this.slots.size === 0) this.allWorkersGone?.();
      return;
    }
    this.restarts++;
    this.log.error({ pid: worker.process.pid, code, signal }, 'worker exited; starting a new one');
    // Crash loops back off so a broken worker cannot spin the CPU.
    const delay = Math.min(5_000, 100 * 2 ** Math.min(6, this.recentRestarts()));
    setTimeout(() => {
      if (!this.stopping) this.fork();
    }, delay).unref();
  }

  private restartTimes: number[] = [];
  private recentRestarts(): number {
    const now = Date.now();
    this.restartTimes = this.restartTimes.filter((t) => now - t < 60_000);
    this.restartTimes.push(now);
    return this.restartTimes.length - 1;
  }

  private allWorkersGone: (() => void) | undefined;

  /** Sends a request to every ready worker and collects the answers until the deadline. */
  private fanOut<T>(table: Map<number, Pending<T>>, make: (id: number) => ToWorker, timeoutMs: number): Promise<{ asked: number; results: Map<number, T> }> {
    const id = ++this.seq;
    const ready = [...this.slots.values()].filter((s) => s.ready && s.worker.isConnected());
    return new Promise((resolveAll) => {
      const pending: Pending<T> = { expect: new Set(ready.map((s) => s.worker.id)), results: new Map(), done: () => undefined };
      const asked = pending.expect.size;
      const timer = setTimeout(() => pending.done(), timeoutMs);
      pending.done = () => {
        clearTimeout(timer);
        table.delete(id);
        resolveAll({ asked, results: pending.results });
      };
      table.set(id, pending);
      if (asked === 0) return pending.done();
      for (const s of ready) this.send(s.worker, make(id));
    });
  }

  // ---- AdminBackend ----

  health(): { ok: boolean; state: 'serving' | 'draining' | 'starting' } {
    if (this.draining) return { ok: false, state: 'draining' };
    const serving = [...this.slots.values()].some((s) => s.revision !== undefined);
    return serving ? { ok: true, state: 'serving' } : { ok: false, state: 'starting' };
  }

  async status(): Promise<unknown> {
    const { results } = await this.fanOut(this.pendingStatus, (id) => ({ type: 'meridian:status', id }), 2_000);
    const workers = [...results.values()];
    const first = workers[0];
    return {
      node: { ...this.config.node, version: VERSION, started_at: this.startedAt, pid: process.pid },
      state: this.health().state,
      config: {
        source: this.source?.kind,
        origin: this.origin,
        source_connected: this.source?.connected ?? false,
        // Why the source cannot be read, while it cannot.
        source_error: this.source?.connected ? undefined : this.sourceError,
        revision: this.current?.revision,
        routes: first?.routes ?? 0,
        upstreams: this.current?.upstreams.length ?? 0,
        last_rejection: this.lastRejection,
        snapshot_file: this.snapshotFile,
      },
      workers: workers.map((w) => ({ pid: w.pid, revision: w.revision, routes: w.routes, build_ms: w.build_ms, draining: w.draining, memory_mb: w.memory_mb })),
      worker_restarts: this.restarts,
      upstreams: first?.upstreams ?? {},
    };
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.aggregator.contentType, body: await this.aggregator.clusterMetrics() };
  }

  async purge(filter: PurgeFilter): Promise<PurgeResult> {
    const t0 = performance.now();
    const { asked, results } = await this.fanOut(this.pendingPurges, (id) => ({ type: 'meridian:purge', id, filter }), this.config.admin.purge_timeout_ms);
    let applied = 0;
    for (const err of results.values()) if (err === undefined) applied++;
    return { workers: asked, applied, took_ms: Math.round((performance.now() - t0) * 100) / 100 };
  }

  // ---- drain ----

  /**
   * SIGTERM: /healthz turns 503 at once, the workers keep serving (answers carry Connection:
   * close) for grace_ms so DNS moves clients away, then they stop accepting, finish what is in
   * flight and close idle keep-alive connections; then the registration is revoked.
   */
  async drain(signal: string): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const { grace_ms, timeout_ms } = this.config.drain;
    this.log.info({ signal, grace_ms, timeout_ms }, 'draining');
    for (const s of this.slots.values()) this.send(s.worker, { type: 'meridian:draining' });
    await new Promise((r) => setTimeout(r, grace_ms));
    this.stopping = true;
    const gone = new Promise<void>((r) => {
      this.allWorkersGone = r;
      if (this.slots.size === 0) r();
    });
    for (const s of this.slots.values()) this.send(s.worker, { type: 'meridian:stop', timeoutMs: timeout_ms });
    const killTimer = setTimeout(() => {
      for (const s of this.slots.values()) s.worker.process.kill('SIGKILL');
    }, timeout_ms + 3_000);
    await gone;
    clearTimeout(killTimer);
    if (this.snapshotTimer) this.writeSnapshotNow();
    await this.source?.stop().catch(() => undefined);
    await this.registrar?.stop();
    await this.store?.stop().catch(() => undefined);
    await new Promise<void>((r) => (this.admin ? this.admin.close(() => r()) : r()));
    this.log.info('drained; exiting');
    this.exitResolve?.(0);
  }
}
