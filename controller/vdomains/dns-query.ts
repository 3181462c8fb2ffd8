/**
 * One DNS question to a `meridian dns` server, as a resolver in a given client subnet would ask
 * it (EDNS Client Subnet, RFC 7871): what `GET /v1/vdomains/{id}/answer` shows. The query is
 * encoded here (a header, one question and an OPT record: dns2's encoder writes the ECS address
 * as given, host bits and all, which the server rightly refuses); the answer is parsed by dns2.
 * Over UDP, and again over TCP when the UDP answer is truncated.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, isIPv4, isIPv6 } from 'node:net';
import dns2 from 'dns2';
import { splitHostPort } from '../../src/core/admin-server.js';

export const QTYPE = { A: 1, CNAME: 5, AAAA: 28 } as const;
const TYPE_NAMES: Record<number, string> = { 1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 16: 'TXT', 28: 'AAAA' };
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const OPT = 41;
const OPT_ECS = 8;
const UDP_SIZE = 1232;
/** Larger answers are not ours to read (a vdomain has at most 16 records). */
const MAX_TCP_ANSWER = 65_535;

export interface DnsRecord {
  name: string;
  type: string;
  ttl: number;
  /** The address (A, AAAA) or target name (CNAME). */
  value: string;
}

export interface DnsReply {
  rcode: string;
  authoritative: boolean;
  truncated: boolean;
  /** The ECS scope prefix the server answered with (the length of the CIDR that located the subnet). */
  scope: number | null;
  answers: DnsRecord[];
}

/** The parts of dns2's parsed Packet read here (its published types describe dns2 2.x). */
interface ParsedPacket {
  header: { id: number; qr: number; aa: number; tc: number; rcode: number };
  answers: Array<{ name: string; type: number; ttl: number; address?: string; domain?: string }>;
  additionals: Array<{ type: number; rdata?: Array<{ ednsCode?: number; scopePrefixLength?: number }> }>;
}
const parsePacket = (dns2 as unknown as { Packet: { parse(buf: Buffer): ParsedPacket } }).Packet.parse;

/** The address bytes of an IPv6 literal (`::` and a trailing dotted IPv4 part allowed). */
function ipv6Bytes(address: string): Buffer {
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = (v4[1] as string).split('.').map(Number);
    text = `${text.slice(0, v4.index)}${(((b[0] as number) << 8) | (b[1] as number)).toString(16)}:${(((b[2] as number) << 8) | (b[3] as number)).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) & 0xffff, i * 2));
  return out;
}

/** The ECS option of a CIDR: its family, prefix and the prefix's bytes, host bits zeroed (RFC 7871 §6). */
export function ecsOption(cidr: string): Buffer {
  const [ip = '', len = ''] = cidr.split('/');
  const v4 = isIPv4(ip);
  if (!v4 && !isIPv6(ip)) throw new Error(`not a CIDR: ${cidr}`);
  const bytes = v4 ? Buffer.from(ip.split('.').map(Number)) : ipv6Bytes(ip);
  const prefix = Math.min(Number(len === '' ? bytes.length * 8 : len), bytes.length * 8);
  const kept = Buffer.from(bytes.subarray(0, Math.ceil(prefix / 8)));
  if (prefix % 8 !== 0) kept[kept.length - 1] = (kept[kept.length - 1] as number) & (0xff << (8 - (prefix % 8)));
  const opt = Buffer.alloc(8 + kept.length);
  opt.writeUInt16BE(OPT_ECS, 0);
  opt.writeUInt16BE(4 + kept.length, 2);
  opt.writeUInt16BE(v4 ? 1 : 2, 4);
  opt[6] = prefix;
  opt[7] = 0;
  kept.copy(opt, 8);
  return opt;
}

/** A query for `name`/`qtype` with an OPT record (and the ECS option of `subnet`). */
export function encodeQuery(id: number, name: string, qtype: number, subnet?: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean).map((l) => {
    const b = Buffer.from(l, 'latin1');
    if (b.length > 63) throw new Error(`label too long in ${name}`);
    return Buffer.concat([Buffer.from([b.length]), b]);
  });
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(1, 4); // one question
  header.writeUInt16BE(1, 10); // one additional: the OPT record
  const question = Buffer.alloc(4);
  question.writeUInt16BE(qtype, 0);
  question.writeUInt16BE(1, 2); // IN
  const options = subnet ? ecsOption(subnet) : Buffer.alloc(0);
  const opt = Buffer.alloc(11);
  opt.writeUInt16BE(OPT, 1); // root name (0), type OPT
  opt.writeUInt16BE(UDP_SIZE, 3); // class: the UDP size we read; ttl 0: version 0, no flags
  opt.writeUInt16BE(options.length, 9);
  return Buffer.concat([header, ...labels, Buffer.from([0]), question, opt, options]);
}

function decode(buf: Buffer, id: number): DnsReply {
  const p = parsePacket(buf);
  if (p.header.id !== id || p.header.qr !== 1) throw new Error('answer does not match the query');
  const ecs = p.additionals.find((a) => a.type === OPT)?.rdata?.find((o) => o.ednsCode === OPT_ECS);
  return {
    rcode: RCODE_NAMES[p.header.rcode] ?? String(p.header.rcode),
    authoritative: p.header.aa === 1,
    truncated: p.header.tc === 1,
    scope: ecs?.scopePrefixLength ?? null,
    answers: p.answers.map((a) => ({ name: a.name, type: TYPE_NAMES[a.type] ?? String(a.type), ttl: a.ttl, value: a.address ?? a.domain ?? '' })),
  };
}

function udp(server: string, payload: Buffer, timeoutMs: number): Promise<Buffer> {
  const { host, port } = splitHostPort(server);
  return new Promise((resolve, reject) => {
    const sock = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    const done = (err: Error | null, msg?: Buffer): void => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(msg as Buffer);
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    sock.on('message', (msg) => done(null, msg));
    sock.on('error', (err) => done(err));
    sock.send(payload, port, host, (err) => { if (err) done(err); });
  });
}

/** One DNS message over TCP (two-byte length prefix both ways) to `host:port` or `[v6]:port`: the answer's message. */
export function tcpExchange(server: string, payload: Buffer, timeoutMs: number): Promise<Buffer> {
  const { host, port } = splitHostPort(server);
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    let buf = Buffer.alloc(0);
    const done = (err: Error | null, msg?: Buffer): void => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(msg as Buffer);
    };
    const timer = setTimeout(() => done(new Error(`no TCP answer within ${timeoutMs} ms`)), timeoutMs);
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(payload.length);
      sock.write(Buffer.concat([len, payload]));
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length > 2 + MAX_TCP_ANSWER) return done(new Error('TCP answer too large'));
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(null, buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    sock.on('error', (err) => done(err));
    sock.on('end', () => done(new Error('connection closed before the answer')));
  });
}

/** Asks `server` one question (UDP, then TCP when truncated), within `timeoutMs` per transport. */
export async function ask(server: string, q: { name: string; qtype: number; subnet?: string; timeoutMs: number }): Promise<DnsReply & { transport: 'udp' | 'tcp' }> {
  const id = randomInt(0x10000);
  const payload = encodeQuery(id, q.name, q.qtype, q.subnet);
  const reply = decode(await udp(server, payload, q.timeoutMs), id);
  if (!reply.truncated) return { ...reply, transport: 'udp' };
  return { ...decode(await tcpExchange(server, payload, q.timeoutMs), id), transport: 'tcp' };
}
