import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { GenericContainer, Network, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { ConsulClient } from '../../src/core/consul-client.js';
import { consulConfig } from '../../src/core/servers/launchers.js';
import { freePort } from './loopback.js';
import type { ConsulServer, EtcdServer, RedisServer, ServerControl, ServerFactory } from './servers.js';

const run = promisify(execFile);

/** Same images as docker-compose.yml. */
export const IMAGES = { etcd: 'quay.io/coreos/etcd:v3.4.23', redis: 'redis:7.0', consul: 'hashicorp/consul:1.8.7' } as const;

/** True when a Docker engine answers (the client alone is not enough). */
export async function dockerReachable(): Promise<boolean> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

function control(name: string, c: StartedTestContainer): ServerControl {
  const docker = async (...args: string[]) => {
    await run('docker', [...args, c.getId()], { timeout: 30_000 });
  };
  return {
    name,
    host: c.getHost(),
    stop: () => docker('stop'),
    kill: () => docker('kill'),
    freeze: () => docker('pause'),
    thaw: () => docker('unpause'),
    restart: () => c.restart(),
    start: () => docker('start'),
  };
}

/** The harness on testcontainers: host ports fixed at start so a restart keeps them. */
export class ContainerServers implements ServerFactory {
  private readonly started: StartedTestContainer[] = [];
  private network: StartedNetwork | undefined;
  private seq = 0;

  async etcd(): Promise<EtcdServer> {
    const port = await freePort();
    const name = `etcd-${++this.seq}`;
    const c = await new GenericContainer(IMAGES.etcd)
      .withCommand(['etcd', '--name', name, '--listen-client-urls', 'http://0.0.0.0:2379', '--advertise-client-urls', `http://127.0.0.1:${port}`])
      .withExposedPorts({ container: 2379, host: port })
      .withWaitStrategy(Wait.forHttp('/health', 2379))
      .start();
    this.started.push(c);
    return { ...control(name, c), endpoint: `http://${c.getHost()}:${port}` };
  }

  async redis(): Promise<RedisServer> {
    const port = await freePort();
    const c = await new GenericContainer(IMAGES.redis).withExposedPorts({ container: 6379, host: port }).withWaitStrategy(Wait.forLogMessage('Ready to accept connections')).start();
    this.started.push(c);
    return { ...control(`redis-${++this.seq}`, c), url: `redis://${c.getHost()}:${port}`, port };
  }

  private async consulIn(datacenter: string, network?: StartedNetwork): Promise<ConsulServer> {
    const http = await freePort();
    const dns = await freePort();
    const name = `consul-${datacenter}-${++this.seq}`;
    let builder = new GenericContainer(IMAGES.consul)
      .withCommand(['agent', '-server', '-bootstrap-expect=1', `-datacenter=${datacenter}`, `-node=${name}`, '-client=0.0.0.0', `-hcl=${consulConfig()}`])
      .withExposedPorts({ container: 8500, host: http }, { container: 8600, host: dns, protocol: 'udp' })
      .withWaitStrategy(Wait.forHttp('/v1/status/leader', 8500).forResponsePredicate((b) => b.length > 4));
    if (network) builder = builder.withNetwork(network).withNetworkAliases(name);
    const c = await builder.start();
    this.started.push(c);
    const httpUrl = `http://${c.getHost()}:${http}`;
    const client = new ConsulClient(httpUrl);
    return {
      ...control(name, c),
      datacenter,
      httpUrl,
      dns: { host: c.getHost(), port: dns },
      client,
      register: (reg) => client.register(reg),
      deregister: (id) => client.deregister(id),
    };
  }

  consul(datacenter = 'dc1'): Promise<ConsulServer> {
    return this.consulIn(datacenter);
  }

  async consulFederation(datacenters: string[]): Promise<ConsulServer[]> {
    this.network ??= await new Network().start();
    const network = this.network;
    const servers = await Promise.all(datacenters.map((dc) => this.consulIn(dc, network)));
    // The first datacenter's server WAN-joins the others by their network alias.
    const firstContainer = this.started[this.started.length - servers.length];
    for (const s of servers.slice(1)) {
      if (firstContainer) await run('docker', ['exec', firstContainer.getId(), 'consul', 'join', '-wan', s.name], { timeout: 30_000 });
    }
    return servers;
  }

  async close(): Promise<void> {
    await Promise.all(this.started.map((c) => c.stop({ timeout: 1 }).catch(() => undefined)));
    await this.network?.stop().catch(() => undefined);
  }
}
