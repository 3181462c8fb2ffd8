import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../../core/model/index.js';

/** deploy/local.yaml: the local cluster `meridian up` starts. Every default is stated here. */
export const LocalTopology = Strict({
  base: Type.String({ pattern: '^127\\.[0-9]{1,3}$', default: '127.0', description: 'region i lives on <base>.<i>.0/24 (default 127.0)' }),
  prefix: Type.String({ pattern: '^/', default: '/meridian' }),
  zone: Type.String({ default: 'gw.example.net' }),
  regions: Type.Array(Strict({ name: Type.String({ pattern: '^[a-z][a-z0-9-]*$' }) }), { minItems: 1, maxItems: 4, default: [{ name: 'east' }, { name: 'west' }] }),
  gateways_per_region: Type.Integer({ minimum: 1, maximum: 9, default: 2 }),
  gateway_workers: Type.Integer({ minimum: 1, default: 1, description: 'workers per gateway node (default 1: a laptop runs many nodes)' }),
  gateway_port: Type.Integer({ minimum: 1, maximum: 65535, default: 9080 }),
  gateway_admin_port: Type.Integer({ minimum: 1, maximum: 65535, default: 9091 }),
  dns_port: Type.Integer({ minimum: 1, maximum: 65535, default: 53, description: 'DNS port (default 53; 5353 is used when not root)' }),
  controller_port: Type.Integer({ minimum: 1, maximum: 65535, default: 9180 }),
  admin_token: Type.String({ minLength: 8, default: 'meridian-local-admin', description: 'controller admin token and gateway admin token of the local cluster' }),
  demo: Strict({
    service: Type.String({ default: 'echo' }),
    instances_per_region: Type.Integer({ minimum: 1, maximum: 9, default: 2 }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 8081 }),
    route_path: Type.String({ pattern: '^/', default: '/echo' }),
    business_domain: Type.String({ default: 'api.shop.example' }),
    consumer: Type.String({ default: 'demo' }),
    key: Type.String({ default: 'demo-key' }),
  }),
});
export type LocalTopology = Static<typeof LocalTopology>;

/**
 * Where every part of a cluster is, for the config generators in programs.ts. One generator,
 * several address books: `meridian up` runs everything on loopback (addressesOf), the
 * container deployment (docker-compose.yml) on container host names with fixed IPs
 * (composeAddresses), Kubernetes on Service names (k8sAddresses). The config files of all of
 * them come out of the same functions, so they cannot drift apart.
 */
export interface AddressBook {
  /** Host clients reach central etcd at (port 2379). */
  readonly centralEtcd: string;
  /** host:port clients reach the controller API at. */
  readonly controller: string;
  /** Host of region i's Consul server (HTTP on 8500). */
  readonly consul: (i: number) => string;
  /**
   * IP of region i's Consul DNS interface (port 8600): a resolver address, so never a host
   * name (resolving the resolver through DNS would be circular).
   */
  readonly consulDns: (i: number) => string;
  /** Host of region i's etcd (2379) and Redis (6379). */
  readonly etcd: (i: number) => string;
  readonly redis: (i: number) => string;
  /** Host of region i's prober and DNS server (their admin listeners: 9154, 9153). */
  readonly prober: (i: number) => string;
  readonly dns: (i: number) => string;
  /** Host of gateway node n of region i: its listeners and the admin URL the controller calls. */
  readonly gateway: (i: number, n: number) => string;
  /** Public IP of gateway node n of region i: what DNS answers with (A records hold IPs). */
  readonly gatewayIp: (i: number, n: number) => string;
  /** IP of demo instance n of region i: where it listens and what Consul hands out. */
  readonly demo: (i: number, n: number) => string;
  /** The client subnet DNS steering maps to region i. */
  readonly cidr: (i: number) => string;
  /**
   * The address a program listens on, given the host it is reached at: the same on loopback,
   * the container's fixed IP in compose (a listener needs an address of the machine itself;
   * binding the IP rather than 0.0.0.0 keeps what a node registers a reachable address).
   */
  readonly bind: (host: string) => string;
  /** Folder for state files (gateway and DNS snapshots) on a volume; none = the programs' defaults. */
  readonly stateDir: string | undefined;
}

/**
 * Loopback addresses of the topology (the one place they are computed for `meridian up`).
 * `stateDir`: where the local cluster keeps its programs' snapshots, so two clusters on one
 * machine (`npm start`, the chaos suite) never boot from each other's.
 */
export function addressesOf(t: LocalTopology, stateDir?: string): AddressBook {
  const region = (i: number) => `${t.base}.${i + 1}`;
  const gateway = (i: number, n: number) => `${region(i)}.${11 + n}`;
  const consul = (i: number) => `${region(i)}.1`;
  return {
    centralEtcd: `${t.base}.0.1`,
    controller: `${t.base}.0.1:${t.controller_port}`,
    consul,
    consulDns: consul,
    etcd: (i) => `${region(i)}.2`,
    redis: (i) => `${region(i)}.3`,
    prober: (i) => `${region(i)}.4`,
    dns: (i) => `${region(i)}.53`,
    gateway,
    gatewayIp: gateway,
    demo: (i, n) => `${region(i)}.${21 + n}`,
    cidr: (i) => `${region(i)}.0/24`,
    bind: (host) => host,
    stateDir,
  };
}

/**
 * docker-compose.yml's network: one bridge network whose subnet mirrors the loopback layout
 * (region i on <base>.<i>.0/24, the same last octets), so the two topologies read alike.
 * <base>.0.1 is Docker's gateway address, hence central etcd on .2 and the controller on .3.
 */
export const COMPOSE_NETWORK = { base: '10.89', subnet: '10.89.0.0/16', gateway: '10.89.0.1' } as const;

/** Container host name -> fixed IP of every container of the compose topology. */
export function composeHosts(t: LocalTopology): Map<string, string> {
  const b = COMPOSE_NETWORK.base;
  const hosts = new Map<string, string>([
    ['etcd-central', `${b}.0.2`],
    ['controller', `${b}.0.3`],
    ['seed', `${b}.0.5`],
    ['prometheus', `${b}.0.9`],
    ['grafana', `${b}.0.10`],
  ]);
  t.regions.forEach((r, i) => {
    const net = `${b}.${i + 1}`;
    hosts.set(`consul-${r.name}`, `${net}.1`);
    hosts.set(`etcd-${r.name}`, `${net}.2`);
    hosts.set(`redis-${r.name}`, `${net}.3`);
    hosts.set(`prober-${r.name}`, `${net}.4`);
    hosts.set(`dns-${r.name}`, `${net}.53`);
    for (let n = 0; n < t.gateways_per_region; n++) hosts.set(`gateway-${r.name}-${n + 1}`, `${net}.${11 + n}`);
    for (let n = 0; n < t.demo.instances_per_region; n++) hosts.set(`${t.demo.service}-${r.name}-${n + 1}`, `${net}.${21 + n}`);
  });
  return hosts;
}

function regionName(t: LocalTopology, i: number): string {
  const r = t.regions[i];
  if (!r) throw new Error(`no region ${i}`);
  return r.name;
}

/** The compose topology: container host names where a name works, their fixed IPs where an IP is needed. */
export function composeAddresses(t: LocalTopology): AddressBook {
  const hosts = composeHosts(t);
  const ip = (host: string): string => {
    const found = hosts.get(host);
    if (found === undefined) throw new Error(`no compose container named ${host}`);
    return found;
  };
  const gateway = (i: number, n: number) => `gateway-${regionName(t, i)}-${n + 1}`;
  return {
    centralEtcd: 'etcd-central',
    controller: `controller:${t.controller_port}`,
    consul: (i) => `consul-${regionName(t, i)}`,
    consulDns: (i) => ip(`consul-${regionName(t, i)}`),
    etcd: (i) => `etcd-${regionName(t, i)}`,
    redis: (i) => `redis-${regionName(t, i)}`,
    prober: (i) => `prober-${regionName(t, i)}`,
    dns: (i) => `dns-${regionName(t, i)}`,
    gateway,
    gatewayIp: (i, n) => ip(gateway(i, n)),
    demo: (i, n) => ip(`${t.demo.service}-${regionName(t, i)}-${n + 1}`),
    cidr: (i) => `${COMPOSE_NETWORK.base}.${i + 1}.0/24`,
    bind: ip,
    stateDir: '/var/lib/meridian',
  };
}

/** Kubernetes Service names of the parts a region's manifests (deploy/k8s) talk to. */
export const K8S_SERVICES = {
  centralEtcd: 'etcd-central',
  controller: 'meridian-controller',
  gateway: 'meridian-gateway',
  gatewayAdmin: 'meridian-gateway-admin',
  dns: 'meridian-dns',
  prober: 'meridian-prober',
  /** Existing services of the region (deploy/k8s/00-external-services.yaml), by region name. */
  etcd: (region: string) => `etcd-${region}`,
  redis: (region: string) => `redis-${region}`,
  consul: (region: string) => `consul-${region}`,
} as const;

/**
 * The Kubernetes book: Service names; listeners on 0.0.0.0 in the ConfigMaps because a pod's
 * IP is known only at run time (the Deployments override the addresses a node registers with
 * its pod IP through MERIDIAN__ environment variables). Gateway public IPs and client subnets
 * are the operator's (the region resource, applied with `meridian ctl apply`), not ConfigMap
 * content, so those entries are documentation placeholders (TEST-NET-3) never written here.
 */
export function k8sAddresses(t: LocalTopology): AddressBook {
  return {
    centralEtcd: K8S_SERVICES.centralEtcd,
    controller: `${K8S_SERVICES.controller}:${t.controller_port}`,
    consul: (i) => K8S_SERVICES.consul(regionName(t, i)),
    consulDns: () => '203.0.113.53',
    etcd: (i) => K8S_SERVICES.etcd(regionName(t, i)),
    redis: (i) => K8S_SERVICES.redis(regionName(t, i)),
    prober: () => K8S_SERVICES.prober,
    dns: () => K8S_SERVICES.dns,
    gateway: () => K8S_SERVICES.gatewayAdmin,
    gatewayIp: (_i, n) => `203.0.113.${11 + n}`,
    demo: (_i, n) => `203.0.113.${21 + n}`,
    cidr: () => '203.0.113.0/24',
    bind: () => '0.0.0.0',
    stateDir: '/var/lib/meridian',
  };
}
