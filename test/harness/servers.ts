import { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsulClient, type ServiceRegistration } from '../../src/core/consul-client.js';
import { CONSUL_DEFAULT_PORTS, consulJoinWan, consulProcess, etcdProcess, redisProcess, waitForFederation } from '../../src/core/servers/launchers.js';
import type { ManagedProcess } from '../../src/core/servers/managed-process.js';
import { allocateLoopback } from './loopback.js';
import { forgetPid, notePid } from './pid-registry.js';

/** What a test can do to any one server: the faults failover tests need. */
export interface ServerControl {
  readonly name: string;
  readonly host: string;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** SIGSTOP: holds its sockets, answers nothing. */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** Starts it again on the same address with the same data folder, and waits until ready. */
  restart(): Promise<void>;
  /** Starts it again after stop() or kill(). */
  start(): Promise<void>;
}

export interface EtcdServer extends ServerControl {
  readonly endpoint: string;
}

export interface RedisServer extends ServerControl {
  readonly url: string;
  readonly port: number;
}

export interface ConsulServer extends ServerControl {
  readonly datacenter: string;
  readonly httpUrl: string;
  readonly dns: { host: string; port: number };
  readonly client: ConsulClient;
  register(reg: ServiceRegistration): Promise<void>;
  deregister(serviceId: string): Promise<void>;
}

export interface ServerFactory {
  etcd(): Promise<EtcdServer>;
  redis(): Promise<RedisServer>;
  /** A Redis Cluster of `masters` nodes (no replicas), slots spread evenly; its nodes' host:port. */
  redisCluster?(masters?: number): Promise<string[]>;
  consul(datacenter?: string): Promise<ConsulServer>;
  consulFederation(datacenters: string[]): Promise<ConsulServer[]>;
  close(): Promise<void>;
}

function control(name: string, host: string, proc: ManagedProcess): ServerControl {
  proc.onSpawn = (pid) => notePid(pid, name);
  const forget = () => {
    if (proc.pid) forgetPid(proc.pid);
  };
  return {
    name,
    host,
    stop: async () => {
      forget();
      await proc.stop();
    },
    kill: async () => {
      forget();
      await proc.kill();
    },
    freeze: async () => proc.freeze(),
    thaw: async () => proc.thaw(),
    restart: async () => {
      forget();
      await proc.restart();
    },
    start: () => proc.start(),
  };
}

/** Real server binaries on private loopback addresses and data folders. */
export class BinaryServers implements ServerFactory {
  private readonly root = mkdtempSync(join(tmpdir(), 'meridian-harness-'));
  private readonly procs: Array<{ name: string; proc: ManagedProcess }> = [];
  private seq = 0;

  private place(kind: string, host: string) {
    const name = `${kind}-${++this.seq}`;
    return { name, host, dataDir: join(this.root, name), logFile: join(this.root, `${name}.log`) };
  }

  async etcd(): Promise<EtcdServer> {
    const host = await allocateLoopback([2379, 2380]);
    const p = this.place('etcd', host);
    const proc = etcdProcess(p);
    this.procs.push({ name: p.name, proc });
    const ctl = control(p.name, host, proc);
    await proc.start();
    return { ...ctl, endpoint: proc.endpoint };
  }

  async redis(): Promise<RedisServer> {
    const host = await allocateLoopback([6379]);
    const p = this.place('redis', host);
    const proc = redisProcess(p);
    this.procs.push({ name: p.name, proc });
    const ctl = control(p.name, host, proc);
    await proc.start();
    return { ...ctl, url: proc.url, port: proc.port };
  }

  async redisCluster(masters = 3): Promise<string[]> {
    const nodes: Array<{ host: string; url: string }> = [];
    for (let i = 0; i < masters; i++) {
      const host = await allocateLoopback([6379, 16379]);
      const p = this.place('redis-cluster', host);
      const proc = redisProcess(p, 6379, [
        '--cluster-enabled', 'yes', '--cluster-config-file', join(p.dataDir, 'nodes.conf'), '--cluster-node-timeout', '2000',
        // Outgoing loopback connections leave from 127.0.0.1: without this, peers would learn that address.
        '--cluster-announce-ip', host,
      ]);
      this.procs.push({ name: p.name, proc });
      control(p.name, host, proc); // registers its pid, so a crashed run leaves no orphan
      await proc.start();
      nodes.push({ host, url: proc.url });
    }
    const clients = nodes.map((n) => new Redis(n.url, { lazyConnect: false, maxRetriesPerRequest: 1 }));
    try {
      const per = Math.ceil(16384 / masters);
      // ADDSLOTS with every slot (not ADDSLOTSRANGE, which needs Redis 7): a redis-server already on PATH may be older.
      const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => from + k);
      await Promise.all(clients.map((c, i) => c.call('CLUSTER', 'ADDSLOTS', ...range(i * per, Math.min(16383, (i + 1) * per - 1)))));
      for (const n of nodes.slice(1)) await clients[0]?.call('CLUSTER', 'MEET', n.host, 6379);
      const deadline = Date.now() + 30_000;
      for (;;) {
        const states = await Promise.all(clients.map((c) => c.call('CLUSTER', 'INFO') as Promise<string>));
        if (states.every((s) => s.includes('cluster_state:ok') && s.includes(`cluster_known_nodes:${masters}`))) break;
        if (Date.now() > deadline) throw new Error(`Redis Cluster not ok after 30 s: ${states.map((s) => /cluster_state:\w+/.exec(s)?.[0]).join(', ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      for (const c of clients) c.disconnect();
    }
    return nodes.map((n) => `${n.host}:6379`);
  }

  private async consulUnstarted(datacenter: string): Promise<{ server: ConsulServer; proc: ReturnType<typeof consulProcess> }> {
    const P = CONSUL_DEFAULT_PORTS;
    const host = await allocateLoopback([P.http, P.dns, P.server, P.serfLan, P.serfWan], [P.dns, P.serfLan, P.serfWan]);
    const p = { ...this.place(`consul-${datacenter}`, host), datacenter };
    const proc = consulProcess(p);
    this.procs.push({ name: p.name, proc });
    const client = new ConsulClient(proc.httpUrl);
    const server: ConsulServer = {
      ...control(p.name, host, proc),
      datacenter,
      httpUrl: proc.httpUrl,
      dns: proc.dns,
      client,
      register: (reg) => client.register(reg),
      deregister: (id) => client.deregister(id),
    };
    return { server, proc };
  }

  async consul(datacenter = 'dc1'): Promise<ConsulServer> {
    const { server, proc } = await this.consulUnstarted(datacenter);
    await proc.start();
    return server;
  }

  /** One server per datacenter, started side by side, WAN-joined, federation confirmed. */
  async consulFederation(datacenters: string[]): Promise<ConsulServer[]> {
    const made = await Promise.all(datacenters.map((dc) => this.consulUnstarted(dc)));
    await Promise.all(made.map((m) => m.proc.start()));
    const [first, ...rest] = made;
    if (first && rest.length > 0) await consulJoinWan(first.proc.httpUrl, rest.map((m) => m.proc.serfWan));
    await waitForFederation(made.map((m) => m.proc.httpUrl), datacenters);
    return made.map((m) => m.server);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.procs.map(async ({ proc }) => {
        const pid = proc.pid;
        await proc.kill();
        if (pid) forgetPid(pid);
      }),
    );
    rmSync(this.root, { recursive: true, force: true });
  }
}
