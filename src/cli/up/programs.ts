import { createHash } from 'node:crypto';
import { consulConfig } from '../../core/servers/launchers.js';
import { addressesOf, type AddressBook, type LocalTopology } from './topology.js';

/**
 * The config file of every Meridian program, derived from the topology and an address book.
 * `meridian up` passes the loopback book (the default); `npm run deploy:configs` passes the
 * compose and Kubernetes books and commits the result under deploy/, so the files
 * docker-compose.yml and the k8s ConfigMaps hold are the ones `npm start` runs with, modulo
 * addresses. test/deploy checks the committed files are what this module generates.
 */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function regionOf(t: LocalTopology, region: number): { name: string } {
  const r = t.regions[region];
  if (!r) throw new Error(`no region ${region}`);
  return r;
}

/** Snapshot file under the book's state folder, or nothing (the program's default). */
function snapshot(a: AddressBook, name: string): { snapshot_file?: string } {
  return a.stateDir === undefined ? {} : { snapshot_file: `${a.stateDir}/${name}.snapshot.json` };
}

export function controllerConfig(t: LocalTopology, a: AddressBook = addressesOf(t)): Record<string, unknown> {
  const [host = '', port = String(t.controller_port)] = a.controller.split(':');
  return {
    listen: `${a.bind(host)}:${port}`,
    etcd: { endpoints: [`http://${a.centralEtcd}:2379`], prefix: t.prefix },
    regional_prefix: t.prefix,
    tokens: [{ name: 'local-admin', sha256: sha256(t.admin_token), role: 'admin' }],
    zone: t.zone,
    // The zones the DNS servers answer bindings in (dnsConfig): a binding there needs no CNAME.
    delegated_zones: [parentZone(t.demo.business_domain)],
    gateway_admin_token: t.admin_token,
    // Asked by the console's "what does a client in region X get" (GET /v1/vdomains/{id}/answer).
    dns: { servers: [...new Set(t.regions.map((_r, i) => `${a.dns(i)}:${t.dns_port}`))] },
  };
}

export function gatewayConfig(t: LocalTopology, region: number, node: number, a: AddressBook = addressesOf(t)): Record<string, unknown> {
  const r = regionOf(t, region);
  const host = a.gateway(region, node);
  const name = `gw${node + 1}`;
  return {
    node: { name, cluster: 'main', region: r.name },
    // public_address is what the node registers and DNS hands out: its public IP, which is
    // not the listen address when the listener is bound to a private one.
    listen: { http: `${a.bind(host)}:${t.gateway_port}`, public_address: `${a.gatewayIp(region, node)}:${t.gateway_port}` },
    admin: { listen: `${a.bind(host)}:${t.gateway_admin_port}`, token_hash: sha256(t.admin_token) },
    workers: t.gateway_workers,
    config: {
      source: 'etcd',
      etcd: { endpoints: [`http://${a.etcd(region)}:2379`], prefix: t.prefix },
      ...snapshot(a, `gateway-${r.name}-${name}`),
    },
    redis: `redis://${a.redis(region)}:6379`,
    // Upstreams come from the region's Consul DNS, asked by IP (a resolver cannot be a name);
    // the datacenter lets a purge for this datacenter match local entries exactly.
    discovery: { servers: [{ host: a.consulDns(region), port: 8600 }], datacenter: r.name },
  };
}

/** api.shop.example -> shop.example (a name with one label is its own zone). */
function parentZone(name: string): string {
  const labels = name.split('.');
  return labels.length > 2 ? labels.slice(1).join('.') : name;
}

export function dnsConfig(t: LocalTopology, region: number, a: AddressBook = addressesOf(t)): Record<string, unknown> {
  const r = regionOf(t, region);
  const host = a.bind(a.dns(region));
  return {
    listen: `${host}:${t.dns_port}`,
    admin: `${host}:9153`,
    zone: t.zone,
    // The demo business domain's zone is delegated to Meridian DNS, so `dig api.shop.example`
    // gets the CNAME to its virtual domain (a real operator delegates their own zones).
    delegated_zones: [parentZone(t.demo.business_domain)],
    etcd: { endpoints: [`http://${a.centralEtcd}:2379`], prefix: t.prefix },
    ...snapshot(a, `dns-${r.name}`),
  };
}

export function proberConfig(t: LocalTopology, region: number, a: AddressBook = addressesOf(t)): Record<string, unknown> {
  const r = regionOf(t, region);
  return {
    name: `prober-${r.name}`,
    region: r.name,
    admin: `${a.bind(a.prober(region))}:9154`,
    etcd: { endpoints: [`http://${a.centralEtcd}:2379`], prefix: t.prefix },
  };
}

export interface SeedResource {
  kind: string;
  id: string;
  body: Record<string, unknown>;
}

/** The resources `meridian up` seeds through the controller API, in dependency order. */
export function seedResources(t: LocalTopology, a: AddressBook = addressesOf(t)): SeedResource[] {
  const out: SeedResource[] = [];
  t.regions.forEach((r, i) => {
    // Failover order: the other regions, nearest (by index) first.
    const others = t.regions.map((x, j) => ({ name: x.name, d: Math.abs(j - i) })).filter((x) => x.d > 0).sort((x, y) => x.d - y.d).map((x) => x.name);
    out.push({
      kind: 'regions',
      id: r.name,
      body: {
        name: r.name,
        failover: others,
        cidrs: [{ cidr: a.cidr(i) }],
        clusters: [{
          name: 'main',
          threshold: 1,
          nodes: Array.from({ length: t.gateways_per_region }, (_, n) => ({
            name: `gw${n + 1}`,
            address: a.gatewayIp(i, n),
            port: t.gateway_port,
            admin: `http://${a.gateway(i, n)}:${t.gateway_admin_port}`,
          })),
        }],
        etcd: { endpoints: [`http://${a.etcd(i)}:2379`] },
        consul: { http: `http://${a.consul(i)}:8500`, dns: `${a.consulDns(i)}:8600`, datacenter: r.name },
      },
    });
  });
  out.push({
    kind: 'upstreams',
    id: t.demo.service,
    body: {
      id: t.demo.service,
      type: 'roundrobin',
      discovery: { type: 'consul', service: t.demo.service, failover: t.regions.map((r) => r.name) },
      retries: 1,
      checks: { passive: { failures: 2 } },
    },
  });
  out.push({ kind: 'consumers', id: t.demo.consumer, body: { username: t.demo.consumer, plugins: { 'key-auth': { key: t.demo.key } } } });
  out.push({
    kind: 'routes',
    id: 'demo-echo',
    body: { id: 'demo-echo', paths: [t.demo.route_path, `${t.demo.route_path}/*`], upstream_id: t.demo.service, plugins: { 'key-auth': {} } },
  });
  return out;
}

/**
 * A stable UUID v4-shaped id for the demo virtual domain of a deployment seeded from files:
 * `meridian up` allocates one through POST /v1/vdomains, but a seed made of plain PUTs must
 * name it, and the same name on every run keeps the seed idempotent.
 */
export function demoVdomainUuid(t: LocalTopology): string {
  const h = sha256(`meridian-demo-vdomain:${t.zone}:${t.demo.business_domain}`);
  const variant = ((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** seedResources plus the demo virtual domain and its binding: what the compose seed PUTs. */
export function fileSeedResources(t: LocalTopology, a: AddressBook): SeedResource[] {
  const uuid = demoVdomainUuid(t);
  return [
    ...seedResources(t, a),
    { kind: 'vdomains', id: uuid, body: { uuid, policy: { type: 'nearest' }, backup_records: 1, description: 'demo' } },
    { kind: 'bindings', id: t.demo.business_domain, body: { domain: t.demo.business_domain, vdomain: uuid } },
  ];
}

/**
 * Agent config of region `region`'s Consul server in a container deployment: the settings
 * Meridian expects (consulConfig(), shared with `meridian up`), WAN federation by
 * retry_join_wan (the container equivalent of `meridian up`'s join call), and the demo
 * instances as agent-defined services with HTTP checks (what `meridian up` registers by API).
 */
export function consulServerConfig(t: LocalTopology, region: number, a: AddressBook): Record<string, unknown> {
  const r = regionOf(t, region);
  const self = a.bind(a.consul(region));
  const expected = JSON.parse(consulConfig()) as Record<string, unknown>;
  return {
    datacenter: r.name,
    node_name: `consul-${r.name}`,
    server: true,
    bootstrap_expect: 1,
    ui: true,
    bind_addr: self,
    advertise_addr: self,
    advertise_addr_wan: self,
    // HTTP and DNS on every interface of the container: gateways, the controller and the
    // healthcheck (127.0.0.1) all ask it; the container network is private.
    client_addr: '0.0.0.0',
    retry_join_wan: t.regions.map((_, j) => j).filter((j) => j !== region).map((j) => a.consul(j)),
    ...expected,
    services: Array.from({ length: t.demo.instances_per_region }, (_, n) => {
      const host = a.demo(region, n);
      return {
        id: `${t.demo.service}-${r.name}-${n + 1}`,
        name: t.demo.service,
        address: host,
        port: t.demo.port,
        tags: [r.name],
        checks: [{ http: `http://${host}:${t.demo.port}/health`, interval: '1s', timeout: '1s' }],
      };
    }),
  };
}
