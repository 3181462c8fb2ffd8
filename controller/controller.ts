import { hostname } from 'node:os';
import { join } from 'node:path';
import { EtcdStore } from '../src/core/etcd-store.js';
import { centralKeys, type HealthObservation } from '../src/core/keys.js';
import { createLogger, type Logger } from '../src/core/logger.js';
import { stopAll, type Lifecycle } from '../src/core/lifecycle.js';
import type { Deployment, Region } from '../src/core/model/index.js';
import type { ControllerProgramConfig } from './config.js';
import { TokenAuth } from './api/auth.js';
import { ApiServer } from './api/server.js';
import { registerResourceApi } from './api/resources-api.js';
import { registerVDomainApi } from './api/vdomains-api.js';
import { registerOpsApi } from './api/ops-api.js';
import { registerApplyApi } from './api/apply-api.js';
import { openApiDocument } from './api/openapi.js';
import { registerConsole } from './api/console-api.js';
import { ResourceStore } from './store/resource-store.js';
import { ResourceService } from './store/resource-service.js';
import { CentralMirror } from './central/mirror.js';
import { RegionStores } from './regions/region-stores.js';
import { NodeDirectory } from './regions/nodes.js';
import { Reconciler } from './reconcile/reconciler.js';
import { PurgeFanout, type PurgeResult } from './purge/fanout.js';
import { WatchManager } from './purge/watch-manager.js';
import type { ServiceChange } from './purge/service-watch.js';
import { Drainer } from './purge/drain.js';
import { LeaderElection } from './ha/leader.js';
import { DeploymentActions } from './deploy/actions.js';
import { DeployScheduler } from './deploy/scheduler.js';
import { DeploymentLiveStats } from './deploy/live.js';
import { ControllerMetrics } from './metrics.js';
import { collectStatus } from './status.js';
import { PROJECT_ROOT } from '../src/core/servers/binaries.js';
import { hashClearSecrets } from './store/secrets.js';
import { AuditTrimmer } from './store/audit-retention.js';
import { TRAFFIC_DEFAULTS, TrafficScraper, type TrafficReport } from './traffic/scraper.js';

const VERSION = '0.1.0';

/**
 * One controller replica. Every replica serves the API (reads and writes go to central etcd,
 * which serialises them); only the elected leader runs the parts that must run once: the
 * reconciler, the Consul watches, the deployment timers and the audit log's trim.
 */
export class Controller implements Lifecycle {
  readonly log: Logger;
  readonly metrics = new ControllerMetrics();
  readonly central: EtcdStore;
  readonly mirror: CentralMirror;
  readonly service: ResourceService;
  readonly regionStores: RegionStores;
  readonly nodes: NodeDirectory;
  readonly fanout: PurgeFanout;
  readonly drainer: Drainer;
  readonly actions: DeploymentActions;
  readonly api: ApiServer;
  readonly traffic: TrafficScraper;
  readonly id: string;
  readonly purges: PurgeResult[] = [];
  election: LeaderElection | undefined;
  reconciler: Reconciler | undefined;
  watches: WatchManager | undefined;
  private leaderParts: Lifecycle[] = [];
  private leaderSwitch: Promise<void> = Promise.resolve();
  /** The leader's one pass over consumers stored with clear secrets (store/secrets.ts). */
  private migration: Promise<void> = Promise.resolve();
  private leading = false;
  address = { host: '', port: 0 };

  constructor(private readonly config: ControllerProgramConfig, log?: Logger) {
    this.id = config.node_id ?? `${hostname()}-${process.pid}`;
    this.log = log ?? createLogger('controller');
    this.central = new EtcdStore({ endpoints: config.etcd.endpoints, prefix: config.etcd.prefix, timeoutMs: config.etcd.timeout_ms });
    this.mirror = new CentralMirror(this.central, this.log);
    this.service = new ResourceService(new ResourceStore(this.central), config.zone, config.delegated_zones);
    this.regionStores = new RegionStores(config.regional_prefix, config.reconcile.region_timeout_ms);
    this.nodes = new NodeDirectory(this.regionStores);
    this.fanout = new PurgeFanout(this.nodes, config.gateway_admin_token);
    this.drainer = new Drainer(this.mirror, this.fanout, this.central, config.purge.deadline_ms);
    this.actions = new DeploymentActions(this.service);
    this.api = new ApiServer(new TokenAuth(config.tokens), this.log, config.max_body_bytes, (method, endpoint, status) => this.metrics.api.inc({ method, endpoint, status: String(status) }));
    registerVDomainApi(this.api, this.service, { zone: config.zone, dns: { servers: config.dns.servers, timeoutMs: config.dns.timeout_ms } });
    registerResourceApi(this.api, this.service);
    registerApplyApi(this.api, this.service);
    // Generated at the first request, from every route registered by then (all of them).
    let doc: Record<string, unknown> | undefined;
    this.api.on('GET', '/openapi.json', null, 'the OpenAPI document of this API', async () => ({ status: 200, body: (doc ??= openApiDocument(VERSION, this.api.routes())) }));
    // Built by scripts/prepare.mjs (vite) from controller/console.
    registerConsole(this.api, join(PROJECT_ROOT, 'dist', 'console'));
    const t = config.traffic;
    this.traffic = new TrafficScraper({ regions: () => this.mirror.list('regions').map((r) => r.value as Region), directory: this.nodes, log: this.log }, {
      ...TRAFFIC_DEFAULTS, intervalMs: t.scrape_interval_ms, nodeTimeoutMs: t.node_timeout_ms, idleMs: t.idle_s * 1000,
    });
    this.api.on('GET', '/v1/traffic', 'read', 'traffic per region and route over the last 15 minutes (requests/s, 4xx/s, 5xx/s, p99), scraped from the gateways', async (): Promise<{ status: number; body: TrafficReport }> => ({ status: 200, body: this.traffic.report() }));
    this.api.on('GET', '/v1/purges', 'read', 'recent purges', async () => ({ status: 200, body: { items: this.purges } }));
    const live = new DeploymentLiveStats({ regions: () => this.mirror.list('regions').map((r) => r.value as Region), directory: this.nodes, token: config.gateway_admin_token, nodeTimeoutMs: t.node_timeout_ms });
    registerOpsApi(this.api, {
      live: async (id) => live.live(id, (await this.service.require<Deployment>('deployments', id)).value),
      actions: this.actions,
      drainer: this.drainer,
      metrics: this.metrics,
      defaultDeadlineMs: config.purge.deadline_ms,
      status: () => collectStatus(this.mirror, this.regionStores, this.nodes, {
        replica: this.id, leader: this.election?.current?.id ?? null, isLeader: this.isLeader, reconciler: this.reconciler?.states() ?? [],
      }, async () => [...(await this.central.snapshot<HealthObservation>(centralKeys.healthAll())).entries.values()].map((e) => e.value)),
      leader: () => ({ id: this.election?.current?.id ?? null, api: this.election?.current?.api ?? null, is_me: this.isLeader }),
    });
  }

  get isLeader(): boolean {
    return this.election?.leading ?? false;
  }

  get url(): string {
    return `http://${this.address.host}:${this.address.port}`;
  }

  async start(): Promise<void> {
    await this.central.start();
    await this.mirror.start();
    await this.traffic.start();
    this.address = await this.api.listen(this.config.listen);
    this.election = new LeaderElection(this.central, { id: this.id, api: this.url, since: '' }, this.config.leader.ttl_s, this.log);
    // Start and stop of the leader parts are chained so a quick elected/deposed/elected never overlaps.
    this.election.on('elected', () => {
      this.leaderSwitch = this.leaderSwitch.then(() => this.lead()).catch((err: unknown) => this.log.error({ err }, 'leader start failed'));
    });
    this.election.on('deposed', () => {
      this.leaderSwitch = this.leaderSwitch.then(() => this.follow());
    });
    await this.election.start();
    this.log.info({ id: this.id, api: this.url }, 'controller started');
  }

  private async lead(): Promise<void> {
    this.metrics.leader.set(1);
    const c = this.config;
    this.reconciler = new Reconciler(this.mirror, this.regionStores, {
      backoffMinMs: c.reconcile.backoff_min_ms, backoffMaxMs: c.reconcile.backoff_max_ms, resyncMs: c.reconcile.resync_s * 1000,
    }, this.log, (s) => {
      this.metrics.regionLag.set({ region: s.region }, Math.max(0, s.desired_revision - s.applied_revision));
      this.metrics.reconcileRuns.inc({ region: s.region, result: s.last_error ? 'error' : 'ok' });
    });
    this.watches = new WatchManager(this.mirror, { waitS: c.purge.consul_wait_s, minIntervalMs: c.purge.min_interval_ms }, (ch) => void this.onServiceChange(ch), this.metrics, this.log);
    const scheduler = new DeployScheduler(this.mirror, this.nodes, this.actions, c.gateway_admin_token, c.deploy.check_interval_ms, this.metrics, this.log);
    const trimmer = new AuditTrimmer(this.central, { maxRecords: c.audit.max_records, maxAgeMs: c.audit.max_age_days * 86_400_000, intervalMs: c.audit.trim_interval_s * 1000 }, this.log);
    this.leaderParts = [this.reconciler, this.watches, scheduler, trimmer];
    for (const p of this.leaderParts) await p.start();
    // In the background: scrypt costs ~50 ms per clear password, and nothing waits for it.
    this.leading = true;
    this.migration = hashClearSecrets(this.service, () => !this.leading)
      .then((n) => { if (n > 0) this.log.info({ consumers: n }, 'clear consumer keys and passwords stored as hashes'); })
      .catch((err: unknown) => this.log.warn({ err }, 'hashing clear consumer secrets failed (retried at the next election)'));
  }

  private async follow(): Promise<void> {
    this.metrics.leader.set(0);
    this.leading = false;
    await this.migration;
    const parts = this.leaderParts;
    this.leaderParts = [];
    this.reconciler = undefined;
    this.watches = undefined;
    for (const err of await stopAll(parts)) this.log.warn({ err: err.message }, 'stopping a leader part failed');
  }

  /** A Consul change: every gateway node drops what it cached for the service. */
  private async onServiceChange(ch: ServiceChange): Promise<void> {
    const regions = this.mirror.list('regions').map((r) => r.value as Region);
    const r = await this.fanout.purge(regions, { service: ch.service, datacenter: ch.datacenter, ...(ch.changed.length === 1 ? { instance: ch.changed[0] as string } : {}) }, this.config.purge.deadline_ms);
    this.metrics.purges.inc({ result: r.complete ? 'ok' : r.acked.length > 0 ? 'partial' : 'failed', trigger: 'consul' });
    this.metrics.purgeSeconds.observe({ trigger: 'consul' }, r.took_ms / 1000);
    this.metrics.watchToAckSeconds.observe((performance.now() - ch.seenAt) / 1000);
    this.purges.push(r);
    if (this.purges.length > 20) this.purges.shift();
    if (!r.complete) this.log.warn({ service: ch.service, not_acked: r.not_acked.map((n) => `${n.region}/${n.cluster}/${n.node}`) }, 'purge not acked by every node');
  }

  async stop(): Promise<void> {
    await this.election?.stop();
    await this.leaderSwitch;
    await this.follow();
    await this.api.close();
    await this.traffic.stop();
    this.drainer.close();
    await this.mirror.stop();
    await this.regionStores.stop();
    await this.central.stop();
  }
}
