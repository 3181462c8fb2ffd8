/**
 * Random, truncated, mutated and oversized packets, over UDP and TCP, at a running server with
 * real state from etcd: it must never crash, and must still answer a good query afterwards.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServers } from '../harness/index.js';
import { EtcdStore } from '../../src/core/etcd-store.js';
import { createLogger } from '../../src/core/logger.js';
import { DnsServer } from '../../dns/server.js';
import { parseQuery } from '../../dns/wire.js';
import { ZONE, DNS_PORT, Packet, dnsAddress, dnsConfig, buildQuery, query, addresses } from './helpers.js';

const UUID = '55555555-5555-4555-8555-555555555555';
let host: string;
let server: DnsServer;
let store: EtcdStore;

/** Deterministic PRNG so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1_664_525 + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

function samples(count: number, seed: number): Buffer[] {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const valid = [
    buildQuery(`${UUID}.${ZONE}`, Packet.TYPE.A, { ecs: '10.9.0.0/16' }),
    buildQuery(ZONE, Packet.TYPE.SOA, { edns: true }),
    buildQuery('api.shop.example', Packet.TYPE.A),
  ];
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const base = valid[int(valid.length)] as Buffer;
    switch (i % 6) {
      case 0: // pure noise, any length up to 600
        out.push(randomBytes(int(600)));
        break;
      case 1: // truncated valid query
        out.push(base.subarray(0, int(base.length)));
        break;
      case 2: { // bit flips in a valid query
        const b = Buffer.from(base);
        for (let k = 0; k < 1 + int(6); k++) {
          const at = int(b.length);
          b[at] = (b[at] ?? 0) ^ (1 << int(8));
        }
        out.push(b);
        break;
      }
      case 3: { // header claiming many records, body of noise
        const b = Buffer.concat([base.subarray(0, 12), randomBytes(int(300))]);
        b.writeUInt16BE(int(65_536), 4 + 2 * int(4));
        out.push(b);
        break;
      }
      case 4: { // compression pointer loops and overlong labels in the question
        const b = Buffer.from(base);
        b[12] = int(2) === 0 ? 0xc0 : 0x7f;
        b[13] = 12;
        out.push(b);
        break;
      }
      default: // valid query with garbage appended (oversized)
        out.push(Buffer.concat([base, randomBytes(int(2_000))]));
    }
  }
  return out;
}

beforeAll(async () => {
  const servers = await useServers();
  const etcd = await servers.etcd();
  store = new EtcdStore({ endpoints: [etcd.endpoint] });
  await store.put('regions/east', {
    name: 'east',
    cidrs: [{ cidr: '10.9.0.0/16' }],
    clusters: [{ name: 'c1', nodes: [{ name: 'n1', address: '127.3.0.11', admin: 'http://127.3.0.11:9080' }] }],
  });
  await store.put(`vdomains/${UUID}`, { uuid: UUID, policy: { type: 'nearest' } });
  await store.put('bindings/api.shop.example', { domain: 'api.shop.example', vdomain: UUID });
  host = await dnsAddress();
  server = new DnsServer(dnsConfig(host, etcd.endpoint, { delegated_zones: ['shop.example'] }), createLogger('fuzz', { level: 'silent' }));
  await server.start();
});

afterAll(async () => {
  await server?.stop();
  await store?.stop();
});

describe('fuzz', () => {
  it('the parser never throws on 30,000 random and mutated packets', () => {
    const thrown: string[] = [];
    for (const p of samples(30_000, 7)) {
      try {
        parseQuery(p);
      } catch (err) {
        thrown.push(`${p.toString('hex')}: ${(err as Error).message}`);
      }
    }
    expect(thrown).toEqual([]);
  });

  it('UDP: random, truncated, mutated and oversized datagrams never crash the server', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind({ address: '127.0.0.1', port: 0 }, () => r()));
    let replies = 0;
    sock.on('message', () => replies++);
    const batch = samples(6_000, 11);
    batch.push(randomBytes(65_000), Buffer.alloc(0), Buffer.alloc(11), Buffer.alloc(12));
    for (let i = 0; i < batch.length; i += 200) {
      await Promise.all(batch.slice(i, i + 200).map((p) => new Promise<void>((r) => sock.send(p, DNS_PORT, host, () => r()))));
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 300));
    sock.close();
    expect(replies).toBeGreaterThan(0);
    expect(addresses(await query(host, `${UUID}.${ZONE}`, Packet.TYPE.A, { ecs: '10.9.1.0/24' }))).toEqual(['127.3.0.11']);
  });

  it('TCP: garbage frames, short frames, lying length prefixes and 70 kB blobs never crash the server', async () => {
    const send = (chunks: Buffer[]) =>
      new Promise<void>((resolve) => {
        const s = connect({ host, port: DNS_PORT });
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.on('data', () => undefined);
        s.on('connect', () => {
          for (const c of chunks) s.write(c);
          s.end();
        });
        setTimeout(() => s.destroy(), 500);
      });
    const frame = (p: Buffer) => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(p.length);
      return Buffer.concat([len, p]);
    };
    const jobs: Array<Promise<void>> = [];
    for (const [i, p] of samples(600, 23).entries()) {
      if (i % 3 === 0) jobs.push(send([frame(p)]));
      else if (i % 3 === 1) jobs.push(send([Buffer.from([0xff, 0xff]), p])); // length larger than what follows
      else jobs.push(send([frame(p).subarray(0, 1 + (i % 5))]));
      if (jobs.length >= 50) await Promise.all(jobs.splice(0));
    }
    jobs.push(send([randomBytes(70_000)]));
    await Promise.all(jobs);
    expect((await query(host, `${UUID}.${ZONE}`, Packet.TYPE.A, { tcp: true, ecs: '10.9.1.0/24' })).answers).toHaveLength(1);
    const metrics = await server.metrics.registry.getSingleMetricAsString('meridian_dns_malformed_total');
    expect(metrics).toMatch(/result="FORMERR"} [1-9]/);
  });
});
