import { createHash } from 'node:crypto';
import { addressesOf, type LocalTopology } from './topology.js';

/**
 * The config file of every Meridian program in the local cluster, derived from the topology.
 * These are the same files docker-compose.yml mounts (deploy/), so the two stay in step.
 */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function controllerConfig(t: LocalTopology): Record<string, unknown> {
  const a = addressesOf(t);
  return {
    listen: a.controller,
    etcd: { endpoints: [`http://${a.centralEtcd}:2379`], prefix: t.prefix },
    tokens: [{ name: 'local-admin', sha256: sha256(t.admin_token), role: 'admin' }],
    zone: t.zone,
    gateway_admin_token: t.admin_token,
  };
}

export function gatewayConfig(t: LocalTopology, region: number, node: number): Record<string, unknown> {
  const a = addressesOf(t);
  const r = t.regions[region];
  if (!r) throw new Error(`no region ${region}`);
  const host = a.gateway(region, node);
  return {
    node: { name: `gw${node + 1}`, cluster: 'main', region: r.name },
    listen: { http: `${host}:${t.gateway_port}` },
    admin: { listen: `${host}:${t.gateway_admin_port}`, token_hash: sha256(t.admin_token) },
    workers: t.gateway_workers,
    config: { source: 'etcd', etcd: { endpoints: [`http://${a.etcd(region)}:2379`], prefix: t.prefix } },
    consul: { dns: `${a.consul(region)}:8600`, datacenter: r.name },
    redis: { url: `redis://${a.redis(region)}:6379` },
  };
}

export function dnsConfig(t: LocalTopology, region: number): Record<string, unknown> {
  const a = addressesOf(t);
  return {
    listen: `${a.dns(region)}:${t.dns_port}`,
    admin: `${a.dns(region)}:9153`,
    zone: t.zone,
    etcd: { endpoints: [`http://${a.centralEtcd}:2379`], prefix: t.prefix },
  };
}

export function proberConfig(t: LocalTopology, region: number): Record<string, unknown> {
  const a = addressesOf(t);
  const r = t.regions[region];
  if (!r) throw new Error(`no region ${region}`);
  return {
    name: `prober-${r.name}`,
    region: r.name,
    admin: `${a.prober(region)}:9154`,
    etcd: { endpoints: [`http://${a.centralEtcd}:2379`], prefix: t.prefix },
  };
}

/** The resources `meridian up` seeds through the controller API, in dependency order. */
export function seedResources(t: LocalTopology): Array<{ kind: string; id: string; body: Record<string, unknown> }> {
  const a = addressesOf(t);
  const out: Array<{ kind: string; id: string; body: Record<string, unknown> }> = [];
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
            address: a.gateway(i, n),
            port: t.gateway_port,
            admin: `http://${a.gateway(i, n)}:${t.gateway_admin_port}`,
          })),
        }],
        etcd: { endpoints: [`http://${a.etcd(i)}:2379`] },
        consul: { http: `http://${a.consul(i)}:8500`, dns: `${a.consul(i)}:8600`, datacenter: r.name },
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
