import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { findBinary } from './binaries.js';
import { ManagedProcess } from './managed-process.js';

/** Where and how to run one server: a loopback address and a private data folder. */
export interface ServerPlacement {
  name: string;
  host: string;
  dataDir: string;
  logFile?: string;
  readyTimeoutMs?: number;
  /** cgroup v2 folder to run in (see ProcessSpec.cgroup). */
  cgroup?: string;
  /** A process group of its own (see ProcessSpec.detached). */
  detached?: boolean;
}

async function httpOk(url: string, check: (body: string) => boolean): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
  const body = await res.text();
  return res.ok && check(body);
}

// ---- etcd -------------------------------------------------------------------------------

export interface EtcdPorts {
  client: number;
  peer: number;
}

export function etcdProcess(p: ServerPlacement, ports: EtcdPorts = { client: 2379, peer: 2380 }): ManagedProcess & { endpoint: string } {
  mkdirSync(p.dataDir, { recursive: true });
  const client = `http://${p.host}:${ports.client}`;
  const peer = `http://${p.host}:${ports.peer}`;
  const proc = new ManagedProcess({
    name: p.name,
    command: findBinary('etcd'),
    args: [
      '--name', p.name, '--data-dir', p.dataDir,
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `${p.name}=${peer}`, '--initial-cluster-state', 'new',
      // Small heartbeat so a restarted single-member cluster elects itself at once.
      '--heartbeat-interval', '50', '--election-timeout', '500',
      '--logger', 'zap', '--log-level', 'warn',
    ],
    env: { ETCD_UNSUPPORTED_ARCH: process.arch === 'x64' ? '' : process.arch },
    ...(p.logFile ? { logFile: p.logFile } : {}),
    ...(p.cgroup ? { cgroup: p.cgroup } : {}),
    ...(p.detached ? { detached: true } : {}),
    ready: () => httpOk(`${client}/health`, (b) => b.includes('"health":"true"')),
    readyTimeoutMs: p.readyTimeoutMs ?? 30_000,
  });
  return Object.assign(proc, { endpoint: client });
}

// ---- Redis ------------------------------------------------------------------------------

function redisPing(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1_000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

export function redisProcess(p: ServerPlacement, port = 6379, extraArgs: readonly string[] = []): ManagedProcess & { url: string; port: number } {
  mkdirSync(p.dataDir, { recursive: true });
  const proc = new ManagedProcess({
    name: p.name,
    command: findBinary('redis-server'),
    args: ['--bind', p.host, '--port', String(port), '--dir', p.dataDir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning', ...extraArgs],
    ...(p.logFile ? { logFile: p.logFile } : {}),
    ...(p.cgroup ? { cgroup: p.cgroup } : {}),
    ...(p.detached ? { detached: true } : {}),
    ready: () => redisPing(p.host, port),
    readyTimeoutMs: p.readyTimeoutMs ?? 15_000,
  });
  return Object.assign(proc, { url: `redis://${p.host}:${port}`, port });
}

// ---- Consul -----------------------------------------------------------------------------

export interface ConsulPorts {
  http: number;
  dns: number;
  server: number;
  serfLan: number;
  serfWan: number;
}

export const CONSUL_DEFAULT_PORTS: ConsulPorts = { http: 8500, dns: 8600, server: 8300, serfLan: 8301, serfWan: 8302 };

/**
 * The Consul settings Meridian expects (docs/consul.md): DNS answers only passing instances,
 * sets TC when a UDP answer is cut, and allows stale reads so DNS keeps answering during a
 * leader election; raft timing at production speed (multiplier 1).
 */
export function consulConfig(): string {
  return JSON.stringify({
    dns_config: { only_passing: true, enable_truncate: true, allow_stale: true, max_stale: '87600h', udp_answer_limit: 3 },
    performance: { raft_multiplier: 1 },
    disable_update_check: true,
    leave_on_terminate: false,
  });
}

export function consulProcess(
  p: ServerPlacement & { datacenter: string },
  ports: ConsulPorts = CONSUL_DEFAULT_PORTS,
): ManagedProcess & { httpUrl: string; dns: { host: string; port: number }; datacenter: string; serfWan: string } {
  mkdirSync(p.dataDir, { recursive: true });
  const httpUrl = `http://${p.host}:${ports.http}`;
  const proc = new ManagedProcess({
    name: p.name,
    command: findBinary('consul'),
    args: [
      'agent', '-server', '-bootstrap-expect=1', `-datacenter=${p.datacenter}`, `-node=${p.name}`,
      `-bind=${p.host}`, `-advertise=${p.host}`, `-advertise-wan=${p.host}`, `-client=${p.host}`,
      `-data-dir=${p.dataDir}`, `-http-port=${ports.http}`, `-dns-port=${ports.dns}`,
      `-server-port=${ports.server}`, `-serf-lan-port=${ports.serfLan}`, `-serf-wan-port=${ports.serfWan}`,
      '-log-level=warn', `-hcl=${consulConfig()}`,
    ],
    ...(p.logFile ? { logFile: p.logFile } : {}),
    ...(p.cgroup ? { cgroup: p.cgroup } : {}),
    ...(p.detached ? { detached: true } : {}),
    // Ready once a leader is elected and the agent's own node is in the catalog.
    ready: async () => {
      const leader = await (await fetch(`${httpUrl}/v1/status/leader`, { signal: AbortSignal.timeout(1_000) })).json();
      if (typeof leader !== 'string' || leader === '') return false;
      return httpOk(`${httpUrl}/v1/catalog/node/${encodeURIComponent(p.name)}`, (b) => b.includes('"Node"'));
    },
    readyTimeoutMs: p.readyTimeoutMs ?? 30_000,
  });
  return Object.assign(proc, { httpUrl, dns: { host: p.host, port: ports.dns }, datacenter: p.datacenter, serfWan: `${p.host}:${ports.serfWan}` });
}

/** WAN-joins `agentHttpUrl`'s server to the servers at `wanAddresses` (host:serfWanPort). */
export async function consulJoinWan(agentHttpUrl: string, wanAddresses: string[]): Promise<void> {
  for (const addr of wanAddresses) {
    const res = await fetch(`${agentHttpUrl}/v1/agent/join/${encodeURIComponent(addr)}?wan=1`, { method: 'PUT', signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`consul WAN join ${addr} failed: ${res.status} ${await res.text()}`);
  }
}

/** Resolves once every datacenter sees all `datacenters` in its catalog. */
export async function waitForFederation(httpUrls: string[], datacenters: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let all = true;
    for (const url of httpUrls) {
      try {
        const dcs = (await (await fetch(`${url}/v1/catalog/datacenters`, { signal: AbortSignal.timeout(1_000) })).json()) as string[];
        if (!datacenters.every((d) => dcs.includes(d))) all = false;
      } catch {
        all = false;
      }
    }
    if (all) return;
    if (Date.now() > deadline) throw new Error(`consul federation of ${datacenters.join(', ')} not complete within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function dataDir(root: string, name: string): string {
  return join(root, name);
}
