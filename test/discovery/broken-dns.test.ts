import type { Socket } from 'node:net';
import dns2 from 'dns2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscoveryManager } from '../../src/discovery/index.js';
import { allocateLoopback, eventually } from '../harness/index.js';
import { FAST, consul, keys, manager } from './helpers.js';

const { Packet } = dns2;

/**
 * A tiny DNS peer of our own (dns2 servers on a loopback address) that answers with the
 * broken, cut and truncated packets real Consul only produces under load or misconfiguration.
 * It is not an imitation of Consul: every behaviour is chosen by the queried name.
 */
const PORT = 8600;
let host: string;
let udp: dns2.UDPServer;
let tcp: dns2.TCPServer;
const seen: Array<{ name: string; transport: 'udp' | 'tcp' }> = [];
const managers: DiscoveryManager[] = [];

function srvAnswer(request: dns2.Packet, count: number, opts: { additionals?: boolean; tc?: boolean } = {}): dns2.Packet {
  const res = Packet.createResponseFromRequest(request);
  const q = request.questions[0] as dns2.Packet.Question;
  for (let i = 1; i <= count; i++) {
    const target = `node${i}.node.dc1.consul`;
    res.answers.push({ name: q.name, type: Packet.TYPE.SRV, class: Packet.CLASS.IN, ttl: 0, priority: 1, weight: 1, port: 9000 + i, target } as dns2.Packet.Resource);
    if (opts.additionals !== false) res.additionals.push({ name: target, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 0, address: `127.0.9.${i}` } as dns2.Packet.Resource);
  }
  if (opts.tc) res.header.tc = 1;
  return res;
}

function aAnswer(request: dns2.Packet, address: string): dns2.Packet {
  const res = Packet.createResponseFromRequest(request);
  const q = request.questions[0] as dns2.Packet.Question;
  res.answers.push({ name: q.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 0, address } as dns2.Packet.Resource);
  return res;
}

function rcode(request: dns2.Packet, code: number): dns2.Packet {
  const res = Packet.createResponseFromRequest(request);
  res.header.rcode = code;
  return res;
}

const nodes = (n: number) => Array.from({ length: n }, (_, i) => `127.0.9.${i + 1}:${9001 + i}`);

beforeAll(async () => {
  host = await allocateLoopback([PORT], [PORT]);
  udp = dns2.createUDPServer((request, send) => {
    const q = request.questions[0] as dns2.Packet.Question;
    const name = q.name.split('.')[0] ?? '';
    seen.push({ name: q.name, transport: 'udp' });
    const id = request.header.id;
    switch (name) {
      case 'short': return void send(Buffer.from('nonsense'));
      case 'damaged': {
        // Right id, header announcing one answer, then bytes that are no DNS record at all.
        const buf = Buffer.alloc(24, 0xff);
        buf.writeUInt16BE(id, 0);
        buf.writeUInt16BE(0x8400, 2);
        buf.writeUInt16BE(0, 4);
        buf.writeUInt16BE(1, 6);
        buf.writeUInt16BE(0, 8);
        buf.writeUInt16BE(0, 10);
        return void send(buf);
      }
      case 'loop': {
        // An answer whose name is a compression pointer to itself.
        const buf = Buffer.alloc(12 + 2 + 10);
        buf.writeUInt16BE(id, 0);
        buf.writeUInt16BE(0x8400, 2);
        buf.writeUInt16BE(1, 6);
        buf.writeUInt16BE(0xc00c, 12);
        return void send(buf);
      }
      case 'cutmid': return void send(srvAnswer(request, 3).toBuffer().subarray(0, 70)); // cut mid-record, no TC
      case 'cut': return void send(srvAnswer(request, 3)); // as many as udp_answer_limit, no TC: may be cut
      case 'tc': return void send(srvAnswer(request, 1, { tc: true }));
      case 'noextra': return void send(srvAnswer(request, 2, { additionals: false }));
      case 'node1': case 'node2': return void send(aAnswer(request, name === 'node1' ? '127.0.9.1' : '127.0.9.2'));
      case 'tcpbroken': return void send(srvAnswer(request, 3));
      case 'wrongid': {
        const res = srvAnswer(request, 1);
        res.header.id = (id + 1) & 0xffff;
        return void send(res);
      }
      case 'silent': return;
      case 'servfail': return void send(rcode(request, 2));
      case 'nx': return void send(rcode(request, 3));
      default: return void send(srvAnswer(request, 2));
    }
  });
  tcp = dns2.createTCPServer((request, send, client) => {
    const q = request.questions[0] as dns2.Packet.Question;
    const name = q.name.split('.')[0] ?? '';
    seen.push({ name: q.name, transport: 'tcp' });
    if (name === 'tcpbroken') return void (client as unknown as Socket).destroy();
    if (name === 'cut' || name === 'cutmid' || name === 'damaged' || name === 'loop') return void send(srvAnswer(request, 5));
    if (name === 'tc') return void send(srvAnswer(request, 4));
    send(srvAnswer(request, 2));
  });
  await Promise.all([udp.listen(PORT, host), new Promise<void>((r) => tcp.listen(PORT, host, () => r()))]);
});

afterAll(async () => {
  await Promise.all(managers.map((m) => m.stop()));
  udp.close();
  tcp.close();
});

function peer(extra: Parameters<typeof manager>[0] = {}) {
  const made = manager({ ...FAST, query_timeout_ms: 300, servers: [{ host, port: PORT }], ...extra });
  managers.push(made.m);
  return made;
}

const queriesFor = (prefix: string) => seen.filter((s) => s.name.startsWith(`${prefix}.`));

describe('truncated and malformed DNS answers', () => {
  it('re-asks over TCP when TC is set', async () => {
    const s = peer().m.sourceFor(consul('tc'));
    await s.start();
    expect(keys(s)).toEqual(nodes(4));
    expect(queriesFor('tc').map((q) => q.transport)).toEqual(['udp', 'tcp']);
  });

  it('re-asks over TCP when a UDP answer holds udp_answer_limit records without TC (Consul without enable_truncate)', async () => {
    const { m } = peer();
    const s = m.sourceFor(consul('cut'));
    await s.start();
    expect(keys(s)).toEqual(nodes(5));
    // The next refresh goes straight to TCP: this service is larger than a UDP answer.
    const before = queriesFor('cut').length;
    await eventually(() => queriesFor('cut').length > before, 2_000, 20);
    expect(queriesFor('cut').slice(before).every((q) => q.transport === 'tcp')).toBe(true);
  });

  it('re-asks over TCP when a packet was cut mid-record or carries an undecodable record', async () => {
    const { m } = peer();
    for (const name of ['cutmid', 'damaged', 'loop']) {
      const s = m.sourceFor(consul(name));
      await s.start();
      expect(keys(s), name).toEqual(nodes(5));
      expect(queriesFor(name).slice(0, 2).map((q) => q.transport), name).toEqual(['udp', 'tcp']);
    }
  });

  it('resolves an SRV target that has no address in the additional section', async () => {
    const s = peer().m.sourceFor(consul('noextra'));
    await s.start();
    expect(keys(s)).toEqual(nodes(2));
    expect(queriesFor('node1').length).toBeGreaterThan(0);
  });

  it('uses the partial UDP answer when the TCP re-query fails', async () => {
    const s = peer().m.sourceFor(consul('tcpbroken'));
    await s.start();
    expect(keys(s)).toEqual(nodes(3));
  });

  it('survives short packets, wrong ids, SERVFAIL and silence: no crash, no nodes, the error kept', async () => {
    const { m } = peer();
    for (const [name, error] of [['short', /malformed.*shorter than a DNS header/], ['wrongid', /did not answer/], ['servfail', /rcode 2/], ['silent', /did not answer/]] as const) {
      const s = m.sourceFor(consul(name));
      await s.start();
      expect(s.current(), name).toEqual([]);
      expect(m.snapshot().find((e) => e.service === name)?.error, name).toMatch(error);
    }
  });

  it('treats NXDOMAIN as a negative answer', async () => {
    const { m } = peer();
    const s = m.sourceFor(consul('nx'));
    await s.start();
    expect(s.current()).toEqual([]);
    expect(m.snapshot().find((e) => e.service === 'nx')?.status).toBe('negative');
  });

  it('coalesces concurrent lookups of one name into one query', async () => {
    const { m } = peer({ ttl_floor_ms: 30_000, ttl_ceiling_ms: 30_000 });
    const sources = Array.from({ length: 20 }, () => m.sourceFor(consul('shared')));
    await Promise.all(sources.map((s) => s.start()));
    for (const s of sources) expect(keys(s)).toEqual(nodes(2));
    expect(queriesFor('shared')).toHaveLength(1);
    expect(m.snapshot().filter((e) => e.service === 'shared')).toHaveLength(1);
  });

  it('moves on to the next server when the first one is dead', async () => {
    const dead = await allocateLoopback([PORT], [PORT]);
    const s = peer({ servers: [{ host: dead, port: PORT }, { host, port: PORT }] }).m.sourceFor(consul('fallback'));
    const t0 = Date.now();
    await s.start();
    expect(keys(s)).toEqual(nodes(2));
    // ICMP port unreachable on a connected UDP socket: no query timeout was waited for.
    expect(Date.now() - t0).toBeLessThan(300);
  });
});
