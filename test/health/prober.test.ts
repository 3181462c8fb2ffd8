/**
 * Real probers against gateway stand-ins (small node:http servers serving /healthz and a
 * public TCP port, until `meridian gateway` runs), real etcd, and the DNS server reading
 * their observations: rise/fall, the lease, the quorum rule, node and region failover times.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocateLoopback, eventually, useServers } from '../harness/index.js';
import { EtcdStore } from '../../src/core/etcd-store.js';
import { createLogger } from '../../src/core/logger.js';
import { validate } from '../../src/core/validate.js';
import type { HealthObservation } from '../../src/core/keys.js';
import { Prober } from '../../health/prober.js';
import { ProberProgramConfig } from '../../health/config.js';
import { DnsServer } from '../../dns/server.js';
import { StandInNode, regionOf, dnsAddress, dnsConfig, query, addresses, Packet, ZONE } from '../dns/helpers.js';

const UUID = '66666666-6666-4666-8666-666666666666';
const INTERVAL = 250;
const quiet = (name: string) => createLogger(name, { level: 'silent' });

let etcdEndpoint: string;
let store: EtcdStore;
const nodes: Record<string, StandInNode> = {};
const probers: Prober[] = [];
let dns: DnsServer;
let dnsHost: string;

async function prober(name: string, region: string, source?: string): Promise<Prober> {
  const p = new Prober(
    validate(ProberProgramConfig, {
      name,
      region,
      admin: '127.0.0.1:0',
      etcd: { endpoints: [etcdEndpoint] },
      interval_ms: INTERVAL,
      timeout_ms: 200,
      rise: 2,
      fall: 2,
      lease_ttl_s: 3,
      ...(source ? { source_address: source } : {}),
    }),
    quiet(name),
  );
  await p.start();
  probers.push(p);
  return p;
}

const answer = async () => addresses(await query(dnsHost, `${UUID}.${ZONE}`, Packet.TYPE.A, { ecs: '10.5.0.0/24' }));

beforeAll(async () => {
  const servers = await useServers();
  const etcd = await servers.etcd();
  etcdEndpoint = etcd.endpoint;
  store = new EtcdStore({ endpoints: [etcdEndpoint] });
  for (const n of ['e1', 'e2', 'w1']) nodes[n] = await StandInNode.create();
  const ref = (n: string) => (nodes[n] as StandInNode).ref(n);
  await store.put('regions/east', regionOf('east', [{ name: 'c1', nodes: [ref('e1'), ref('e2')] }], { failover: ['west'], cidrs: [{ cidr: '10.5.0.0/16' }] }));
  await store.put('regions/west', regionOf('west', [{ name: 'c1', nodes: [ref('w1')] }], { failover: ['east'] }));
  await store.put(`vdomains/${UUID}`, { uuid: UUID, policy: { type: 'nearest' }, records: 4 });
  dnsHost = await dnsAddress();
  dns = new DnsServer(dnsConfig(dnsHost, etcdEndpoint), quiet('dns'));
  await dns.start();
});

afterAll(async () => {
  for (const p of probers) await p.stop();
  await dns?.stop();
  for (const n of Object.values(nodes)) await n.kill();
  await store?.stop();
});

describe('prober', () => {
  it('writes one observation per node under its lease, applies rise/fall, and revokes on stop', async () => {
    const p = await prober('solo', 'east');
    const snap = async () => (await store.snapshot<HealthObservation>('health/solo/')).entries;
    await eventually(async () => (await snap()).size === 3, 5_000, 50);
    const e1 = (await snap()).get('health/solo/east/c1/e1')?.value;
    expect(e1).toMatchObject({ prober: 'solo', region: 'east', node: { region: 'east', cluster: 'c1', name: 'e1' }, up: true, http: true, tcp: true });
    const lease = await store.client.get(store.full('health/solo/east/c1/e1')).exec();
    expect(lease.kvs[0]?.lease).not.toBe('0');

    // Draining: /healthz 503 while the public port still accepts. Down only after `fall` probes.
    (nodes.e1 as StandInNode).draining = true;
    const t0 = Date.now();
    await eventually(async () => (await snap()).get('health/solo/east/c1/e1')?.value.up === false, 5_000, 25);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(INTERVAL); // not on the first failure
    expect((await snap()).get('health/solo/east/c1/e1')?.value).toMatchObject({ http: false, tcp: true });
    (nodes.e1 as StandInNode).draining = false;
    await eventually(async () => (await snap()).get('health/solo/east/c1/e1')?.value.up === true, 5_000, 25);

    const status = (await (await fetch(`http://127.0.0.1:${p.adminPort()}/status`)).json()) as { nodes: unknown[] };
    expect(status.nodes).toHaveLength(3);
    const metrics = await (await fetch(`http://127.0.0.1:${p.adminPort()}/metrics`)).text();
    expect(metrics).toContain('meridian_probe_results_total{node="east/c1/e1",result="down"}');
    expect(metrics).toContain('meridian_probe_seconds_bucket');
    expect((await fetch(`http://127.0.0.1:${p.adminPort()}/healthz`)).status).toBe(200);

    await p.stop();
    probers.splice(probers.indexOf(p), 1);
    expect((await snap()).size).toBe(0);
  });
});

describe('probers + dns', () => {
  it('one partitioned prober of two cannot fail a node; a killed node leaves the answers within 3 s', async () => {
    const [srcA, srcB] = [await allocateLoopback([]), await allocateLoopback([])];
    await prober('pa', 'east', srcA);
    await prober('pb', 'west', srcB);
    await eventually(async () => (await answer()).length === 2, 5_000, 50);
    // pb is cut off from e1: only pb sees it down, which is no majority of the two.
    (nodes.e1 as StandInNode).blocked.add(srcB);
    await eventually(async () => (await store.get<HealthObservation>('health/pb/east/c1/e1'))?.value.up === false, 5_000, 25);
    await new Promise((r) => setTimeout(r, 3 * INTERVAL));
    expect(await answer()).toEqual([nodes.e1?.host, nodes.e2?.host].sort());
    (nodes.e1 as StandInNode).blocked.clear();

    const killed = Date.now();
    await (nodes.e2 as StandInNode).kill();
    await eventually(async () => (await answer()).join() === nodes.e1?.host, 5_000, 25);
    const gone = Date.now() - killed;
    expect(gone).toBeLessThanOrEqual(3_000);
    console.log(`[failover] node killed -> gone from answers in ${gone} ms (interval ${INTERVAL} ms, fall 2)`);
  });

  it('a whole region down answers from the next region within 5 s, and comes back', async () => {
    const killed = Date.now();
    await (nodes.e1 as StandInNode).kill();
    await eventually(async () => (await answer()).join() === nodes.w1?.host, 6_000, 25);
    const moved = Date.now() - killed;
    expect(moved).toBeLessThanOrEqual(5_000);
    console.log(`[failover] region down -> next region in ${moved} ms`);
    await (nodes.e1 as StandInNode).start();
    await (nodes.e2 as StandInNode).start();
    await eventually(async () => (await answer()).length === 2, 5_000, 25);
    expect(await answer()).toEqual([nodes.e1?.host, nodes.e2?.host].sort());
  });
});
