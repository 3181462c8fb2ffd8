/**
 * `meridian dns` against real etcd, asked with real DNS queries (dns2 packets over UDP/TCP,
 * and dig when installed): record types, negative answers, flags, steering, policies, the
 * quorum rule, failover levels, fail-open and answering while etcd is down.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, useServers, type EtcdServer } from '../harness/index.js';
import { EtcdStore } from '../../src/core/etcd-store.js';
import { createLogger } from '../../src/core/logger.js';
import type { HealthObservation } from '../../src/core/keys.js';
import type { Region, VDomain } from '../../src/core/model/index.js';
import { DnsServer } from '../../dns/server.js';
import { ZONE, DNS_PORT, Packet, dnsAddress, dnsConfig, query, addresses, dig, buildQuery, sendUdp, type Reply } from './helpers.js';

const T = Packet.TYPE;
const V_NEAR = '11111111-1111-4111-8111-111111111111';
const V_PIN = '22222222-2222-4222-8222-222222222222';
const V_WEIGHT = '33333333-3333-4333-8333-333333333333';
const V_FAIL = '44444444-4444-4444-8444-444444444444';
const V_BACKUP = '55555555-5555-4555-8555-555555555555';
const quiet = createLogger('dns-test', { level: 'silent' });

// Node addresses are data in answers; they are loopback like everything else in these tests.
const EAST: Region = {
  name: 'east',
  failover: ['west'],
  drained: false,
  cidrs: [{ cidr: '10.1.0.0/16' }, { cidr: '10.1.128.0/17', isp: 'unicom' }],
  clusters: [
    { name: 'c1', threshold: 1, weight: 1, nodes: [
      { name: 'e1', address: '127.1.1.11', port: 8080, admin: 'http://127.1.1.11:9080' },
      { name: 'e2', address: '127.1.1.12', port: 8080, admin: 'http://127.1.1.12:9080' },
      { name: 'e3', address: '::1', port: 8080, admin: 'http://[::1]:9080' },
    ] },
    { name: 'c2', threshold: 1, weight: 1, isp: 'unicom', nodes: [{ name: 'u1', address: '127.1.2.11', port: 8080, admin: 'http://127.1.2.11:9080' }] },
  ],
};
const WEST: Region = {
  name: 'west',
  failover: ['east'],
  drained: false,
  cidrs: [{ cidr: '10.2.0.0/16' }, { cidr: '127.77.0.0/16' }],
  clusters: [{ name: 'w1', threshold: 1, weight: 1, nodes: [
    { name: 'w1a', address: '127.2.1.11', port: 8080, admin: 'http://127.2.1.11:9080' },
    { name: 'w1b', address: '127.2.1.12', port: 8080, admin: 'http://127.2.1.12:9080' },
  ] }],
};
const vd = (uuid: string, policy: VDomain['policy'], records = 2): VDomain => ({ uuid, policy, records, ttl: 5 });

let etcd: EtcdServer;
let store: EtcdStore;
let host: string;
let server: DnsServer;
const dir = mkdtempSync(join(tmpdir(), 'meridian-dns-'));
const snapshotFile = join(dir, 'state.json');

async function observe(prober: string, node: string, up: boolean): Promise<void> {
  const [region = '', cluster = '', name = ''] = node.split('/');
  const obs: HealthObservation = { prober, region: 'east', node: { region, cluster, name }, up, http: up, tcp: up, latency_ms: 1, checked_at: new Date().toISOString() };
  await store.put(`health/${prober}/${node}`, obs);
}

const ask = (name: string, type: number, opts: Parameters<typeof query>[3] = {}) => query(host, name, type, opts);
const eastEcs = { ecs: '10.1.2.0/24' };

beforeAll(async () => {
  const servers = await useServers();
  etcd = await servers.etcd();
  store = new EtcdStore({ endpoints: [etcd.endpoint] });
  await store.put('regions/east', EAST);
  await store.put('regions/west', WEST);
  await store.put(`vdomains/${V_NEAR}`, vd(V_NEAR, { type: 'nearest' }));
  await store.put(`vdomains/${V_PIN}`, vd(V_PIN, { type: 'pinned', clusters: ['west/w1'] }));
  await store.put(`vdomains/${V_WEIGHT}`, vd(V_WEIGHT, { type: 'weighted', weights: { 'east/c1': 1, 'west/w1': 1 } }, 1));
  await store.put(`vdomains/${V_FAIL}`, vd(V_FAIL, { type: 'failover', regions: ['west', 'east'] }));
  await store.put(`vdomains/${V_BACKUP}`, { ...vd(V_BACKUP, { type: 'nearest' }), backup_records: 1 });
  await store.put('bindings/api.shop.example', { domain: 'api.shop.example', vdomain: V_NEAR });
  host = await dnsAddress();
  server = new DnsServer(
    dnsConfig(host, etcd.endpoint, {
      delegated_zones: ['shop.example'],
      txt: ['v=meridian', 'a'.repeat(250), 'b'.repeat(250), 'c'.repeat(250)],
      snapshot_file: snapshotFile,
    }),
    quiet,
  );
  await server.start();
});

afterAll(async () => {
  await server?.stop();
  await store?.stop();
});

describe('authoritative records', () => {
  it('SOA at the apex, AA set, RA clear, serial = etcd revision', async () => {
    const r = await ask(ZONE, T.SOA);
    expect(r.rcode).toBe(0);
    expect(r.aa).toBe(true);
    expect(r.ra).toBe(false);
    expect(r.answers).toHaveLength(1);
    expect(r.answers[0]).toMatchObject({ type: T.SOA, primary: `ns1.${ZONE}`, admin: `hostmaster.${ZONE}`, minimum: 30 });
    expect(r.answers[0]?.serial).toBeGreaterThan(0);
  });

  it('NS with glue for the name server', async () => {
    const r = await ask(ZONE, T.NS);
    expect(r.answers.map((a) => a.ns)).toEqual([`ns1.${ZONE}`]);
    expect(r.additionals.map((a) => a.address)).toEqual([host]);
    const a = await ask(`ns1.${ZONE}`, T.A);
    expect(addresses(a)).toEqual([host]);
  });

  it('A of a virtual domain: nearest region by ECS, records and TTL of the domain, scope set', async () => {
    const r = await ask(`${V_NEAR}.${ZONE}`, T.A, eastEcs);
    expect(r.aa).toBe(true);
    expect(addresses(r)).toEqual(['127.1.1.11', '127.1.1.12']);
    expect(r.answers.every((a) => a.ttl === 5)).toBe(true);
    expect(r.scope).toBe(16);
  });

  it('backup records: the next region\'s healthy node comes last, after the primary records', async () => {
    const r = await ask(`${V_BACKUP}.${ZONE}`, T.A, eastEcs);
    const got = addresses(r);
    expect(got).toHaveLength(3);
    expect(new Set(got.slice(0, 2))).toEqual(new Set(['127.1.1.11', '127.1.1.12']));
    expect(['127.2.1.11', '127.2.1.12']).toContain(got[2]);
  });

  it('AAAA from the IPv6 nodes; NODATA (SOA, negative TTL) where a region has none', async () => {
    expect(addresses(await ask(`${V_NEAR}.${ZONE}`, T.AAAA, eastEcs))).toEqual(['::1']);
    const r = await ask(`${V_NEAR}.${ZONE}`, T.AAAA, { ecs: '10.2.0.0/24' });
    expect(r.rcode).toBe(0);
    expect(r.answers).toHaveLength(0);
    expect(r.authorities[0]).toMatchObject({ type: T.SOA, ttl: 30 });
  });

  it('a bound business domain: CNAME to its virtual domain with the A records in the same answer', async () => {
    const r = await ask('api.shop.example', T.A, eastEcs);
    expect(r.answers[0]).toMatchObject({ type: T.CNAME, name: 'api.shop.example', domain: `${V_NEAR}.${ZONE}` });
    expect(r.answers.slice(1).every((a) => a.type === T.A && a.name === `${V_NEAR}.${ZONE}`)).toBe(true);
    expect(addresses(r)).toEqual(['127.1.1.11', '127.1.1.12']);
    const c = await ask('api.shop.example', T.CNAME);
    expect(c.answers).toHaveLength(1);
  });

  it('NXDOMAIN and NODATA carry the SOA with the negative TTL', async () => {
    const nx = await ask(`nope.${ZONE}`, T.A);
    expect(nx.rcode).toBe(3);
    expect(nx.aa).toBe(true);
    expect(nx.authorities[0]).toMatchObject({ type: T.SOA, ttl: 30, minimum: 30 });
    const nxb = await ask('other.shop.example', T.A);
    expect(nxb.rcode).toBe(3);
    expect(nxb.authorities[0]).toMatchObject({ name: 'shop.example' });
    const nodata = await ask(`${V_NEAR}.${ZONE}`, T.MX);
    expect(nodata.rcode).toBe(0);
    expect(nodata.answers).toHaveLength(0);
    expect(nodata.authorities[0]).toMatchObject({ type: T.SOA });
  });

  it('REFUSED for names it does not own (no recursion), FORMERR for malformed queries', async () => {
    const r = await ask('example.com', T.A, { rd: true });
    expect(r.rcode).toBe(5);
    expect(r.aa).toBe(false);
    const two = buildQuery(ZONE, T.A);
    two.writeUInt16BE(2, 4); // QDCOUNT 2 with one question
    const fe = Packet.parse(await sendUdp(host, DNS_PORT, two));
    expect(fe.header.rcode).toBe(1);
    expect(fe.header.id).toBe(two.readUInt16BE(0));
    const badEcs = buildQuery(ZONE, T.A, { ecs: '10.1.2.0/24' });
    badEcs[badEcs.length - 4] = 8; // a scope prefix in a query is FORMERR (RFC 7871 §7.1.1)
    const fe2 = Packet.parse(await sendUdp(host, DNS_PORT, badEcs));
    expect(fe2.header.rcode).toBe(1);
  });

  it('TXT too large for 512 bytes: TC over UDP, the whole answer over TCP', async () => {
    const udp = await ask(ZONE, T.TXT);
    expect(udp.tc).toBe(true);
    expect(udp.answers).toHaveLength(0);
    const tcp = await ask(ZONE, T.TXT, { tcp: true });
    expect(tcp.tc).toBe(false);
    expect(tcp.answers[0]?.type).toBe(T.TXT);
    // With EDNS (1232 bytes) it fits in UDP.
    const edns = await ask(ZONE, T.TXT, { edns: true });
    expect(edns.tc).toBe(false);
  });

  it('dig sees the same answers (UDP, TCP, ECS)', async (ctx) => {
    const out = await dig([`@${host}`, '-p', String(DNS_PORT), `${V_NEAR}.${ZONE}`, 'A', '+subnet=10.2.3.0/24', '+norec']);
    if (out === undefined) {
      ctx.skip(); // dig not installed (apt-get install dnsutils): the dns2 checks above still ran
      return;
    }
    expect(out).toMatch(/flags: qr aa;/);
    expect(out).toMatch(/CLIENT-SUBNET: 10\.2\.3\.0\/24\/16/);
    expect(out).toContain('127.2.1.11');
    const txt = (await dig([`@${host}`, '-p', String(DNS_PORT), ZONE, 'TXT', '+noedns', '+ignore'])) ?? '';
    expect(txt).toMatch(/flags: qr aa tc rd;/);
    const viaTcp = (await dig([`@${host}`, '-p', String(DNS_PORT), ZONE, 'TXT', '+tcp'])) ?? '';
    expect(viaTcp).toContain('v=meridian');
    const nx = (await dig([`@${host}`, '-p', String(DNS_PORT), `nope.${ZONE}`, 'A'])) ?? '';
    expect(nx).toContain('status: NXDOMAIN');
  });
});

describe('steering', () => {
  it('by client subnet (ECS) and by ISP', async () => {
    expect(addresses(await ask(`${V_NEAR}.${ZONE}`, T.A, { ecs: '10.2.9.0/24' }))).toEqual(['127.2.1.11', '127.2.1.12']);
    const unicom = await ask(`${V_NEAR}.${ZONE}`, T.A, { ecs: '10.1.200.0/24' });
    expect(addresses(unicom)).toEqual(['127.1.2.11']);
    expect(unicom.scope).toBe(17);
  });

  it('by the resolver address when there is no ECS', async () => {
    const r = await ask(`${V_NEAR}.${ZONE}`, T.A, { bind: '127.77.0.5' });
    expect(addresses(r)).toEqual(['127.2.1.11', '127.2.1.12']);
    expect(r.scope).toBeUndefined();
  });

  it('policies: pinned, weighted, failover order', async () => {
    expect(addresses(await ask(`${V_PIN}.${ZONE}`, T.A, eastEcs))).toEqual(['127.2.1.11', '127.2.1.12']);
    expect(addresses(await ask(`${V_FAIL}.${ZONE}`, T.A, eastEcs))).toEqual(['127.2.1.11', '127.2.1.12']);
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) for (const a of addresses(await ask(`${V_WEIGHT}.${ZONE}`, T.A, eastEcs))) seen.add(a.startsWith('127.1.') ? 'east' : 'west');
    expect([...seen].sort()).toEqual(['east', 'west']);
  });

  it('an operator drain moves a region to the next one in the failover order', async () => {
    await store.put('regions/west', { ...WEST, drained: true });
    await eventually(async () => addresses(await ask(`${V_FAIL}.${ZONE}`, T.A, eastEcs))[0] === '127.1.1.11', 5_000, 50);
    await store.put('regions/west', WEST);
    await eventually(async () => addresses(await ask(`${V_FAIL}.${ZONE}`, T.A, eastEcs))[0] === '127.2.1.11', 5_000, 50);
  });
});

describe('health: quorum, failover levels, fail-open', () => {
  const near = () => ask(`${V_NEAR}.${ZONE}`, T.A, eastEcs);
  const until = (pred: (r: Reply) => boolean) => eventually(async () => pred(await near()), 5_000, 50);

  it('one prober of two alone cannot fail a node; a majority can', async () => {
    await observe('p1', 'east/c1/e1', true);
    await observe('p2', 'east/c1/e1', true);
    await observe('p1', 'east/c1/e1', false);
    await new Promise((r) => setTimeout(r, 300));
    expect(addresses(await near())).toEqual(['127.1.1.11', '127.1.1.12']);
    await observe('p2', 'east/c1/e1', false);
    await until((r) => addresses(r).join() === '127.1.1.12');
    // A prober that leaves (its keys gone) no longer counts: p1 alone is the majority.
    await store.deletePrefix('health/p2/');
    await new Promise((r) => setTimeout(r, 300));
    expect(addresses(await near())).toEqual(['127.1.1.12']);
    await observe('p1', 'east/c1/e1', true);
    await until((r) => addresses(r).length === 2);
  });

  it('cluster below its threshold: the next cluster of the region', async () => {
    await store.put('regions/east', { ...EAST, clusters: [{ ...EAST.clusters[0], threshold: 3 }, EAST.clusters[1]] });
    await observe('p1', 'east/c1/e1', false);
    await until((r) => addresses(r).join() === '127.1.2.11');
    await observe('p1', 'east/c1/e1', true);
    await until((r) => addresses(r).length === 2 && addresses(r)[0] === '127.1.1.11');
    await store.put('regions/east', EAST);
  });

  it('region with no cluster in: the next region; then fail-open when nothing is healthy', async () => {
    for (const n of ['c1/e1', 'c1/e2', 'c1/e3', 'c2/u1']) await observe('p1', `east/${n}`, false);
    await until((r) => addresses(r)[0] === '127.2.1.11');
    for (const n of ['w1/w1a', 'w1/w1b']) await observe('p1', `west/${n}`, false);
    await until((r) => addresses(r).join() === '127.1.1.11,127.1.1.12');
    const metrics = await server.metrics.registry.getSingleMetricAsString('meridian_dns_failovers_total');
    expect(metrics).toMatch(/level="fail_open"} [1-9]/);
    expect(metrics).toMatch(/level="region"} [1-9]/);
    await store.deletePrefix('health/');
    await until((r) => addresses(r).join() === '127.1.1.11,127.1.1.12' && r.answers.length === 2);
  });
});

describe('etcd down', () => {
  it('answers on from memory, and a restarted server answers from its disk snapshot', async () => {
    await new Promise((r) => setTimeout(r, 1_200)); // let the debounced snapshot write happen
    await etcd.stop();
    try {
      expect(addresses(await ask(`${V_NEAR}.${ZONE}`, T.A, { ecs: '10.2.0.0/24' }))).toEqual(['127.2.1.11', '127.2.1.12']);
      await server.stop();
      server = new DnsServer(dnsConfig(host, etcd.endpoint, { delegated_zones: ['shop.example'], snapshot_file: snapshotFile }), quiet);
      await server.start();
      expect(addresses(await ask(`${V_NEAR}.${ZONE}`, T.A, { ecs: '10.2.0.0/24' }))).toEqual(['127.2.1.11', '127.2.1.12']);
      expect((await ask('api.shop.example', T.A, { ...eastEcs, tcp: true })).answers[0]?.type).toBe(T.CNAME);
      const health = await fetch(`http://${host}:${server.addresses().adminPort}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ source: 'disk', etcd: false });
    } finally {
      await etcd.start();
    }
    // Back on etcd: a change made now shows up. (The test's own client may need a moment to
    // reconnect to the restarted etcd on a loaded machine: the write is retried until it lands.)
    await eventually(async () => {
      try {
        await store.put(`vdomains/${V_PIN}`, vd(V_PIN, { type: 'pinned', clusters: ['east/c2'] }));
        return true;
      } catch {
        return false;
      }
    }, 15_000, 200);
    await eventually(async () => addresses(await ask(`${V_PIN}.${ZONE}`, T.A))[0] === '127.1.2.11', 15_000, 200);
    const metrics = await (await fetch(`http://${host}:${server.addresses().adminPort}/metrics`)).text();
    expect(metrics).toContain('meridian_dns_queries_total{qtype="A",rcode="NOERROR",region="east"}');
  });
});
