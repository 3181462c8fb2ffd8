import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { ConsulClient } from '../../core/consul-client.js';
import { MeridianError } from '../../core/errors/index.js';
import { PROJECT_ROOT } from '../../core/servers/binaries.js';
import { consulJoinWan, consulProcess, etcdProcess, redisProcess, waitForFederation } from '../../core/servers/launchers.js';
import { ManagedProcess } from '../../core/servers/managed-process.js';
import { startTime, writePidFile, type PidRecord } from './pid-file.js';
import { controllerConfig, dnsConfig, gatewayConfig, proberConfig, seedResources } from './programs.js';
import { addressesOf, type LocalTopology } from './topology.js';

export type ProcessKind = 'etcd' | 'consul' | 'redis' | 'controller' | 'gateway' | 'dns' | 'prober' | 'demo';

const STOP_TIERS: ReadonlyArray<readonly ProcessKind[]> = [['gateway', 'prober', 'dns'], ['controller', 'demo'], ['consul', 'redis', 'etcd']];
/**
 * SIGTERM to SIGKILL. A gateway first keeps serving for its drain grace (5 s by default) so DNS
 * can move traffic away, then deregisters; 5 s killed it before it had deregistered.
 */
const STOP_GRACE_MS: Partial<Record<ProcessKind, number>> = { gateway: 15_000 };

export interface ClusterMember {
  name: string;
  kind: ProcessKind;
  /** Region name; undefined for central parts. */
  region: string | undefined;
  address: string;
  proc: ManagedProcess;
  /** Cheap health check for the status table. */
  healthy: () => Promise<boolean>;
}

/** A member's process ended, requested or not. */
export interface MemberExit {
  name: string;
  kind: ProcessKind;
  at: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  requested: boolean;
}

export interface LocalClusterOptions {
  /** Default .meridian/local under the project. */
  workDir?: string;
  progress?: (msg: string) => void;
  /**
   * Puts every process of a region in a cgroup v2 folder of its own, so a packet filter can
   * cut regions apart on the shared loopback (chaos/partition.ts); central parts stay in ours.
   */
  cgroupOf?: (region: string) => string | undefined;
  /**
   * Keep the data of the last run (etcd, Consul) and re-use its demo resources; the default
   * starts from empty data folders. Data made with another topology is refused.
   */
  keepData?: boolean;
  /** Every process in a process group of its own (see ProcessSpec.detached). */
  ownProcessGroups?: boolean;
  /** Where to keep the pids of the running processes (see pid-file.ts); default: nowhere. */
  pidFile?: string;
  /** Called when a member's process has ended. */
  onExit?: (exit: MemberExit) => void;
}

async function httpOk(url: string, init: RequestInit = {}): Promise<boolean> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** How to run `meridian` itself: the compiled CLI when we run from dist/, else the sources via tsx. */
function meridianCommand(): { command: string; prefix: string[] } {
  const fromDist = import.meta.url.includes('/dist/');
  return fromDist
    ? { command: process.execPath, prefix: [join(PROJECT_ROOT, 'dist', 'src', 'cli', 'main.js')] }
    : { command: process.execPath, prefix: ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts')] };
}

function echoScript(): string[] {
  return import.meta.url.includes('/dist/')
    ? [join(PROJECT_ROOT, 'dist', 'src', 'cli', 'up', 'echo-server.js')]
    : ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'up', 'echo-server.ts')];
}

/**
 * The whole local multi-region cluster: real Consul (one datacenter per region, WAN-joined),
 * etcd (central + one per region), Redis per region, and the Meridian programs, each with its
 * own log file. start() reports progress; stop() takes everything down in reverse order.
 */
export class LocalCluster {
  readonly topology: LocalTopology;
  readonly workDir: string;
  readonly members: ClusterMember[] = [];
  private readonly progress: (msg: string) => void;
  private readonly cgroupOf: (region: string) => string | undefined;
  private readonly options: LocalClusterOptions;
  /** stop() or kill() was called: start() goes no further. */
  private stopping = false;

  constructor(topology: LocalTopology, options: LocalClusterOptions = {}) {
    this.topology = topology;
    this.options = options;
    this.workDir = options.workDir ?? join(PROJECT_ROOT, '.meridian', 'local');
    this.progress = options.progress ?? (() => undefined);
    this.cgroupOf = options.cgroupOf ?? (() => undefined);
  }

  get dataDir(): string {
    return join(this.workDir, 'data');
  }

  get logDir(): string {
    return join(this.workDir, 'logs');
  }

  member(name: string): ClusterMember {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no cluster member named ${name}`);
    return m;
  }

  private add(m: ClusterMember): ClusterMember {
    this.members.push(m);
    m.proc.onSpawn = () => this.savePids();
    m.proc.onExit((info) => {
      this.savePids();
      this.options.onExit?.({ name: m.name, kind: m.kind, at: Date.now(), ...info });
    });
    return m;
  }

  private savePids(): void {
    if (this.options.pidFile === undefined) return;
    const record = (name: string, pid: number): PidRecord[] => {
      const started = startTime(pid);
      return started === undefined ? [] : [{ name, pid, started }];
    };
    const processes = this.members.flatMap((m) => (m.proc.running && m.proc.pid !== undefined ? record(m.name, m.proc.pid) : []));
    writePidFile(this.options.pidFile, { up: record('meridian up', process.pid)[0] ?? { name: 'meridian up', pid: process.pid, started: '' }, processes });
  }

  /** Log file, cgroup and process group of a process; `region` undefined for central parts. */
  private processPlacement(name: string, region: string | undefined): { logFile: string; cgroup?: string; detached?: boolean } {
    const cgroup = region === undefined ? undefined : this.cgroupOf(region);
    return { logFile: join(this.logDir, `${name}.log`), ...(cgroup ? { cgroup } : {}), ...(this.options.ownProcessGroups ? { detached: true } : {}) };
  }

  private placement(name: string, host: string, region: string | undefined) {
    return { name, host, dataDir: join(this.dataDir, name), ...this.processPlacement(name, region) };
  }

  /**
   * Empty data folders, or (keepData) the last run's, if that run had the same topology: etcd
   * and Consul data hold addresses and region names, so another topology cannot reuse them.
   */
  private prepareData(): void {
    const file = join(this.dataDir, 'topology.json');
    const current = JSON.stringify(this.topology);
    if (this.options.keepData && existsSync(file)) {
      const previous = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      const changed = Object.keys({ ...previous, ...this.topology }).filter((k) => JSON.stringify(previous[k]) !== JSON.stringify((this.topology as Record<string, unknown>)[k]));
      if (changed.length) throw new MeridianError('MERIDIAN_ERR_CLI_UP_DATA', { dir: this.dataDir, reason: `${changed.join(', ')} changed` });
    } else {
      rmSync(this.dataDir, { recursive: true, force: true });
    }
    mkdirSync(this.dataDir, { recursive: true });
    writeFileSync(file, current);
  }

  private writeConfig(name: string, config: Record<string, unknown>): string {
    const file = join(this.workDir, 'config', `${name}.yaml`);
    mkdirSync(join(this.workDir, 'config'), { recursive: true });
    writeFileSync(file, toYaml(config));
    return file;
  }

  private program(name: string, kind: ProcessKind, region: string | undefined, address: string, args: string[], ready: () => Promise<boolean>): ClusterMember {
    const { command, prefix } = meridianCommand();
    const proc = new ManagedProcess({
      name,
      command,
      args: [...prefix, ...args],
      env: { MERIDIAN_LOG_LEVEL: process.env.MERIDIAN_LOG_LEVEL ?? 'info' },
      ...this.processPlacement(name, region),
      ready,
      readyTimeoutMs: 60_000,
    });
    return this.add({ name, kind, region, address, proc, healthy: ready });
  }

  async start(): Promise<void> {
    const t = this.topology;
    // Snapshots live with the cluster's data: kept with it between runs, gone with --fresh.
    const a = addressesOf(t, join(this.dataDir, 'state'));
    this.stopping = false;
    this.prepareData();
    mkdirSync(this.logDir, { recursive: true });

    this.progress('starting etcd (central + per region), Redis and Consul (one datacenter per region)');
    const central = etcdProcess(this.placement('etcd-central', a.centralEtcd, undefined));
    this.add({ name: 'etcd-central', kind: 'etcd', region: undefined, address: `${a.centralEtcd}:2379`, proc: central, healthy: () => httpOk(`${central.endpoint}/health`) });
    const consuls: Array<ReturnType<typeof consulProcess>> = [];
    t.regions.forEach((r, i) => {
      const etcd = etcdProcess(this.placement(`etcd-${r.name}`, a.etcd(i), r.name));
      this.add({ name: `etcd-${r.name}`, kind: 'etcd', region: r.name, address: `${a.etcd(i)}:2379`, proc: etcd, healthy: () => httpOk(`${etcd.endpoint}/health`) });
      const redis = redisProcess(this.placement(`redis-${r.name}`, a.redis(i), r.name));
      this.add({ name: `redis-${r.name}`, kind: 'redis', region: r.name, address: `${a.redis(i)}:6379`, proc: redis, healthy: async () => redis.running });
      const consul = consulProcess({ ...this.placement(`consul-${r.name}`, a.consul(i), r.name), datacenter: r.name });
      consuls.push(consul);
      this.add({ name: `consul-${r.name}`, kind: 'consul', region: r.name, address: `${a.consul(i)}:8500`, proc: consul, healthy: () => httpOk(`${consul.httpUrl}/v1/status/leader`) });
    });
    await Promise.all(this.members.map((m) => m.proc.start()));
    this.continueStart();
    if (consuls.length > 1) {
      const [first, ...rest] = consuls;
      if (first) await consulJoinWan(first.httpUrl, rest.map((c) => c.serfWan));
      await waitForFederation(consuls.map((c) => c.httpUrl), t.regions.map((r) => r.name));
    }
    this.progress(`consul datacenters ${t.regions.map((r) => r.name).join(', ')} WAN-joined`);

    this.progress(`starting demo service "${t.demo.service}" (${t.demo.instances_per_region} instances per region, Consul health checks)`);
    const demoStarts: Array<Promise<void>> = [];
    t.regions.forEach((r, i) => {
      for (let n = 0; n < t.demo.instances_per_region; n++) {
        const host = a.demo(i, n);
        const name = `${t.demo.service}-${r.name}-${n + 1}`;
        const proc = new ManagedProcess({
          name,
          command: process.execPath,
          args: [...echoScript(), host, String(t.demo.port), name, r.name],
          ...this.processPlacement(name, r.name),
          ready: () => httpOk(`http://${host}:${t.demo.port}/health`),
        });
        this.add({ name, kind: 'demo', region: r.name, address: `${host}:${t.demo.port}`, proc, healthy: () => httpOk(`http://${host}:${t.demo.port}/health`) });
        const consul = new ConsulClient(`http://${a.consul(i)}:8500`);
        demoStarts.push(proc.start().then(() => consul.register({
          id: name, name: t.demo.service, address: host, port: t.demo.port, tags: [r.name],
          check: { http: `http://${host}:${t.demo.port}/health`, interval: '1s', timeout: '1s' },
        })).finally(() => consul.close()));
      }
    });
    await Promise.all(demoStarts);
    this.continueStart();

    this.progress('starting the controller and seeding the demo config');
    const ctlFile = this.writeConfig('controller', controllerConfig(t, a));
    const controllerUrl = `http://${a.controller}`;
    const controller = this.program('controller', 'controller', undefined, a.controller, ['controller', '-c', ctlFile], () => httpOk(`${controllerUrl}/healthz`));
    await controller.proc.start();
    await this.seed(controllerUrl);
    this.continueStart();

    this.progress(`starting ${t.gateways_per_region} gateway node(s) per region`);
    const gws: ClusterMember[] = [];
    t.regions.forEach((r, i) => {
      for (let n = 0; n < t.gateways_per_region; n++) {
        const name = `gateway-${r.name}-${n + 1}`;
        const host = a.gateway(i, n);
        const file = this.writeConfig(name, gatewayConfig(t, i, n, a));
        gws.push(this.program(name, 'gateway', r.name, `${host}:${t.gateway_port}`, ['gateway', '-c', file], () => httpOk(`http://${host}:${t.gateway_admin_port}/healthz`)));
      }
    });
    await Promise.all(gws.map((g) => g.proc.start()));
    this.continueStart();

    this.progress('starting a prober and a DNS server per region');
    const edge: ClusterMember[] = [];
    t.regions.forEach((r, i) => {
      const pf = this.writeConfig(`prober-${r.name}`, proberConfig(t, i, a));
      edge.push(this.program(`prober-${r.name}`, 'prober', r.name, `${a.prober(i)}:9154`, ['prober', '-c', pf], () => httpOk(`http://${a.prober(i)}:9154/healthz`)));
      const df = this.writeConfig(`dns-${r.name}`, dnsConfig(t, i, a));
      edge.push(this.program(`dns-${r.name}`, 'dns', r.name, `${a.dns(i)}:${t.dns_port}`, ['dns', '-c', df], () => httpOk(`http://${a.dns(i)}:9153/healthz`)));
    });
    await Promise.all(edge.map((e) => e.proc.start()));
  }

  private continueStart(): void {
    if (this.stopping) throw new Error('stopped while starting');
  }

  /**
   * The demo resources, a virtual domain and its binding, through the controller API. Only
   * what is missing is created: kept data keeps the operator's changes to the demo, and the
   * demo virtual domain (so its name, in the printed dig commands, stays the same).
   */
  private async seed(controllerUrl: string): Promise<void> {
    const t = this.topology;
    const headers = { authorization: `Bearer ${t.admin_token}`, 'content-type': 'application/json' };
    for (const r of seedResources(t)) {
      // If-None-Match: * creates and never replaces; 409 means it is there already.
      const res = await fetch(`${controllerUrl}/v1/${r.kind}/${encodeURIComponent(r.id)}`, { method: 'PUT', headers: { ...headers, 'if-none-match': '*' }, body: JSON.stringify(r.body) });
      if (!res.ok && res.status !== 409) throw new Error(`seeding ${r.kind}/${r.id} failed: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
    const existing = await this.boundVdomain(controllerUrl, headers);
    if (existing) {
      this.vdomain = existing.name ?? `${existing.uuid}.${t.zone}`;
      return;
    }
    const vd = await fetch(`${controllerUrl}/v1/vdomains`, { method: 'POST', headers, body: JSON.stringify({ policy: { type: 'nearest' }, backup_records: 1, description: 'demo' }) });
    if (!vd.ok) throw new Error(`allocating the demo virtual domain failed: ${vd.status} ${await vd.text()}`);
    // The controller answers {result, kind, id, revision, value}: the allocated VDomain is value.
    const written = (await vd.json()) as { value: { uuid: string; name?: string } };
    const vdomain = written.value;
    this.vdomain = vdomain.name ?? `${vdomain.uuid}.${t.zone}`;
    const bind = await fetch(`${controllerUrl}/v1/bindings/${encodeURIComponent(t.demo.business_domain)}`, { method: 'PUT', headers, body: JSON.stringify({ domain: t.demo.business_domain, vdomain: vdomain.uuid }) });
    if (!bind.ok) throw new Error(`binding ${t.demo.business_domain} failed: ${bind.status} ${await bind.text()}`);
  }

  /** The virtual domain the demo business domain is bound to, if both exist. */
  private async boundVdomain(controllerUrl: string, headers: Record<string, string>): Promise<{ uuid: string; name?: string } | undefined> {
    const get = async <T>(path: string): Promise<T | undefined> => {
      const res = await fetch(`${controllerUrl}/v1/${path}`, { headers });
      if (res.status === 404) {
        await res.arrayBuffer();
        return undefined;
      }
      if (!res.ok) throw new Error(`reading ${path} failed: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };
    const binding = await get<{ vdomain: string }>(`bindings/${encodeURIComponent(this.topology.demo.business_domain)}`);
    return binding && get<{ uuid: string; name?: string }>(`vdomains/${encodeURIComponent(binding.vdomain)}`);
  }

  /** The demo virtual domain's full name, once seeded. */
  vdomain: string | undefined;

  /** Health of every member, for the status table. */
  async status(): Promise<Array<{ name: string; kind: ProcessKind; region: string; address: string; pid: number | undefined; state: string }>> {
    return Promise.all(this.members.map(async (m) => ({
      name: m.name,
      kind: m.kind,
      region: m.region ?? 'central',
      address: m.address,
      pid: m.proc.running ? m.proc.pid : undefined,
      state: !m.proc.running ? 'stopped' : (await m.healthy()) ? 'healthy' : 'unhealthy',
    })));
  }

  /**
   * Clients first, servers last (the reverse of the start order), each tier in parallel: the
   * gateways, probers and DNS servers still talk to Consul and etcd while they stop; one by
   * one, every gateway waited out its drain grace (5 s) after the one before. `onTier` hears
   * how long each tier took.
   */
  async stop(onTier?: (tier: readonly ProcessKind[], ms: number) => void): Promise<void> {
    this.stopping = true;
    for (const tier of STOP_TIERS) {
      const started = Date.now();
      await Promise.all(this.members.filter((m) => tier.includes(m.kind)).map((m) => m.proc.stop(STOP_GRACE_MS[m.kind] ?? 5_000).catch(() => undefined)));
      onTier?.(tier, Date.now() - started);
    }
  }

  /** Every process at once with SIGKILL: for an operator who will not wait for stop(). */
  async kill(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.members.map((m) => m.proc.kill().catch(() => undefined)));
  }
}
