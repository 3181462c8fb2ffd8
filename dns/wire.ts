/**
 * DNS wire format: parse one query, encode one response (RFC 1035, EDNS RFC 6891, ECS RFC 7871).
 *
 * Why not dns2's Packet: its parser throws on malformed input with no way to answer FORMERR
 * (it has lost the id by then), it reads every section of untrusted input into objects, and
 * its encoder is the slowest part of an answer. The hot path needs one pass over the header
 * and the question, and an encoder that writes into one reused buffer with name compression.
 */
import { isIPv4, isIPv6 } from 'node:net';

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, TXT: 16, AAAA: 28, OPT: 41, ANY: 255 } as const;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;
export const CLASS_IN = 1;
const OPT_ECS = 8;

const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k]));
/** Bounded label set for metrics: unknown types share one label. */
export function typeName(t: number): string {
  return TYPE_NAMES[t] ?? 'OTHER';
}
const RCODE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RCODE).map(([k, v]) => [v, k]));
export function rcodeName(r: number): string {
  return RCODE_NAMES[r] ?? String(r);
}

export interface ClientSubnet {
  family: 1 | 2;
  sourcePrefix: number;
  /** Address bytes as sent (ceil(sourcePrefix / 8) of them). */
  address: Buffer;
  /** Printable address, zero-filled to full length. */
  ip: string;
}

export interface Edns {
  udpSize: number;
  version: number;
  dnssecOk: boolean;
  ecs?: ClientSubnet;
}

export interface Query {
  id: number;
  opcode: number;
  rd: boolean;
  cd: boolean;
  /** Lower case, no trailing dot; '' is the root. */
  qname: string;
  qtype: number;
  qclass: number;
  /** The question section as received (keeps the client's 0x20 case mixing). */
  question: Buffer;
  edns?: Edns;
}

export type Parsed =
  | { kind: 'query'; query: Query }
  /** Answerable error: we know the id, so the client gets a real rcode rather than a timeout. */
  | { kind: 'error'; id: number; opcode: number; rd: boolean; rcode: number; question?: Buffer; edns?: Edns }
  /** Too short to hold a header, or a response: never answered (no loops, no amplification). */
  | { kind: 'drop' };

class ParseError extends Error {}

function readName(buf: Buffer, start: number): { name: string; end: number } {
  let off = start;
  const labels: string[] = [];
  let total = 0;
  for (;;) {
    if (off >= buf.length) throw new ParseError('name past end');
    const len = buf[off] as number;
    if (len === 0) return { name: labels.join('.'), end: off + 1 };
    // A query's question comes first in the message: there is nothing a pointer could point to.
    if ((len & 0xc0) !== 0) throw new ParseError('compressed name in question');
    if (off + 1 + len > buf.length) throw new ParseError('label past end');
    total += len + 1;
    if (total > 255) throw new ParseError('name too long');
    labels.push(buf.toString('latin1', off + 1, off + 1 + len).toLowerCase());
    off += 1 + len;
  }
}

/** Skips a (possibly compressed) name in the additional section. */
function skipName(buf: Buffer, start: number): number {
  let off = start;
  for (let guard = 0; guard < 128; guard++) {
    if (off >= buf.length) throw new ParseError('name past end');
    const len = buf[off] as number;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) {
      if (off + 2 > buf.length) throw new ParseError('pointer past end');
      return off + 2;
    }
    if ((len & 0xc0) !== 0) throw new ParseError('bad label type');
    off += 1 + len;
  }
  throw new ParseError('name too long');
}

function parseEcs(data: Buffer): ClientSubnet {
  if (data.length < 4) throw new ParseError('short ECS');
  const family = data.readUInt16BE(0);
  const sourcePrefix = data[2] as number;
  const scopePrefix = data[3] as number;
  const address = data.subarray(4);
  const width = family === 1 ? 32 : family === 2 ? 128 : 0;
  // RFC 7871 §7.1.1: unknown family, a scope in a query, or a wrong address length is FORMERR.
  if (width === 0 || sourcePrefix > width || scopePrefix !== 0) throw new ParseError('bad ECS');
  if (address.length !== Math.ceil(sourcePrefix / 8)) throw new ParseError('bad ECS address length');
  // Bits beyond the source prefix must be zero (§6).
  if (sourcePrefix % 8 !== 0 && address.length > 0) {
    const mask = 0xff >> (sourcePrefix % 8);
    if (((address[address.length - 1] as number) & mask) !== 0) throw new ParseError('ECS address bits beyond prefix');
  }
  const full = Buffer.alloc(width / 8);
  address.copy(full);
  const ip = family === 1 ? Array.from(full).join('.') : ipv6String(full);
  return { family: family as 1 | 2, sourcePrefix, address: Buffer.from(address), ip };
}

function ipv6String(b: Buffer): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  return parts.join(':');
}

function parseOpt(buf: Buffer, off: number, rdlen: number, klass: number, ttl: number): Edns {
  const edns: Edns = { udpSize: Math.max(512, klass), version: (ttl >>> 16) & 0xff, dnssecOk: (ttl & 0x8000) !== 0 };
  let p = off;
  const end = off + rdlen;
  while (p < end) {
    if (p + 4 > end) throw new ParseError('short EDNS option');
    const code = buf.readUInt16BE(p);
    const len = buf.readUInt16BE(p + 2);
    if (p + 4 + len > end) throw new ParseError('EDNS option past end');
    if (code === OPT_ECS) {
      if (edns.ecs) throw new ParseError('two ECS options');
      edns.ecs = parseEcs(buf.subarray(p + 4, p + 4 + len));
    }
    p += 4 + len;
  }
  return edns;
}

/** Parses one query. Never throws: bad input becomes FORMERR/NOTIMP or a drop. */
export function parseQuery(buf: Buffer): Parsed {
  if (buf.length < 12) return { kind: 'drop' };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if ((flags & 0x8000) !== 0) return { kind: 'drop' };
  const opcode = (flags >> 11) & 0xf;
  const rd = (flags & 0x0100) !== 0;
  const cd = (flags & 0x0010) !== 0;
  if (opcode !== 0) return { kind: 'error', id, opcode, rd, rcode: RCODE.NOTIMP };
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  if (qd !== 1 || an !== 0 || ns !== 0) return { kind: 'error', id, opcode, rd, rcode: RCODE.FORMERR };
  let question: Buffer | undefined;
  try {
    const { name, end } = readName(buf, 12);
    if (end + 4 > buf.length) throw new ParseError('question past end');
    const qtype = buf.readUInt16BE(end);
    const qclass = buf.readUInt16BE(end + 2);
    question = buf.subarray(12, end + 4);
    let off = end + 4;
    let edns: Edns | undefined;
    for (let i = 0; i < ar; i++) {
      off = skipName(buf, off);
      if (off + 10 > buf.length) throw new ParseError('record past end');
      const type = buf.readUInt16BE(off);
      const klass = buf.readUInt16BE(off + 2);
      const ttl = buf.readUInt32BE(off + 4);
      const rdlen = buf.readUInt16BE(off + 8);
      off += 10;
      if (off + rdlen > buf.length) throw new ParseError('rdata past end');
      if (type === TYPE.OPT) {
        if (edns) throw new ParseError('two OPT records'); // RFC 6891 §6.1.1
        edns = parseOpt(buf, off, rdlen, klass, ttl);
      }
      off += rdlen;
    }
    return { kind: 'query', query: { id, opcode, rd, cd, qname: name, qtype, qclass, question, ...(edns ? { edns } : {}) } };
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    return { kind: 'error', id, opcode, rd, rcode: RCODE.FORMERR, ...(question ? { question } : {}) };
  }
}

// ---------------------------------------------------------------------------------------------

export interface Soa {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export type RData =
  | { type: typeof TYPE.A | typeof TYPE.AAAA; address: string }
  | { type: typeof TYPE.CNAME | typeof TYPE.NS; target: string }
  | { type: typeof TYPE.TXT; strings: string[] }
  | { type: typeof TYPE.SOA; soa: Soa };

export interface Rr {
  /** Lower case, no trailing dot. */
  name: string;
  ttl: number;
  data: RData;
}

export interface Response {
  rcode: number;
  aa: boolean;
  answers: Rr[];
  authority: Rr[];
  additional: Rr[];
  /** ECS scope prefix to send back (only when the query carried ECS). */
  ecsScope?: number;
}

/** Largest message the writer builds; TCP's 2-byte length is the hard limit. */
const MAX_MESSAGE = 65_535;

/** Writes one message into a reused buffer; names are compressed against earlier ones. */
class Writer {
  private readonly buf = Buffer.allocUnsafe(MAX_MESSAGE + 1024);
  off = 0;
  private names = new Map<string, number>();

  reset(): void {
    this.off = 0;
    this.names = new Map();
  }

  u8(v: number): void {
    this.buf[this.off++] = v;
  }
  u16(v: number): void {
    this.buf.writeUInt16BE(v, this.off);
    this.off += 2;
  }
  u32(v: number): void {
    this.buf.writeUInt32BE(v >>> 0, this.off);
    this.off += 4;
  }
  bytes(b: Buffer): void {
    b.copy(this.buf, this.off);
    this.off += b.length;
  }
  setU16(at: number, v: number): void {
    this.buf.writeUInt16BE(v, at);
  }

  /** Registers a name (and its suffixes) already written at `at`, e.g. the question. */
  remember(name: string, at: number): void {
    if (name === '') return;
    const labels = name.split('.');
    let off = at;
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.');
      if (off < 0x3fff && !this.names.has(suffix)) this.names.set(suffix, off);
      off += 1 + Buffer.byteLength(labels[i] as string, 'latin1');
    }
  }

  name(name: string): void {
    if (name === '') {
      this.u8(0);
      return;
    }
    const labels = name.split('.');
    for (let i = 0; i < labels.length; i++) {
      const suffix = i === 0 ? name : labels.slice(i).join('.');
      const ptr = this.names.get(suffix);
      if (ptr !== undefined) {
        this.u16(0xc000 | ptr);
        return;
      }
      if (this.off < 0x3fff) this.names.set(suffix, this.off);
      const label = labels[i] as string;
      const len = Math.min(63, Buffer.byteLength(label, 'latin1'));
      this.u8(len);
      this.off += this.buf.write(label, this.off, len, 'latin1');
    }
    this.u8(0);
  }

  rr(rr: Rr): void {
    this.name(rr.name);
    this.u16(rr.data.type);
    this.u16(CLASS_IN);
    this.u32(rr.ttl);
    const lenAt = this.off;
    this.u16(0);
    const start = this.off;
    const d = rr.data;
    switch (d.type) {
      case TYPE.A:
        for (const part of d.address.split('.')) this.u8(Number(part));
        break;
      case TYPE.AAAA:
        this.bytes(ipv6Bytes(d.address));
        break;
      case TYPE.CNAME:
      case TYPE.NS:
        this.name(d.target);
        break;
      case TYPE.TXT:
        for (const s of d.strings) {
          const b = Buffer.from(s, 'utf8').subarray(0, 255);
          this.u8(b.length);
          this.bytes(b);
        }
        break;
      case TYPE.SOA:
        this.name(d.soa.mname);
        this.name(d.soa.rname);
        this.u32(d.soa.serial);
        this.u32(d.soa.refresh);
        this.u32(d.soa.retry);
        this.u32(d.soa.expire);
        this.u32(d.soa.minimum);
        break;
    }
    this.setU16(lenAt, this.off - start);
  }

  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.off));
  }
}

const ipv6Cache = new Map<string, Buffer>();
/**
 * 16 bytes of a node's IPv6 address, for answers (cached: the set of node addresses is
 * small). Client addresses have their own cache (cidr.ts), so they cannot fill this one.
 */
export function ipv6Bytes(address: string): Buffer {
  const hit = ipv6Cache.get(address);
  if (hit) return hit;
  const out = parseIpv6(address);
  if (ipv6Cache.size < 10_000) ipv6Cache.set(address, out);
  return out;
}

/** 16 bytes of an IPv6 address, not cached. */
export function parseIpv6(address: string): Buffer {
  const out = Buffer.alloc(16);
  let text = address;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 && isIPv4(v4[1] as string)) {
    const p = (v4[1] as string).split('.').map(Number);
    text = text.slice(0, -(v4[1] as string).length) + `${(((p[0] as number) << 8) | (p[1] as number)).toString(16)}:${(((p[2] as number) << 8) | (p[3] as number)).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.slice(0, 8).forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) & 0xffff, i * 2));
  return out;
}

export function addressFamily(address: string): 4 | 6 | 0 {
  return isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
}

const writer = new Writer();

export interface EncodeInput {
  id: number;
  opcode: number;
  rd: boolean;
  cd?: boolean;
  /** The question as received (absent for FORMERR on an unreadable question). */
  question?: Buffer;
  qname?: string;
  edns?: Edns;
  response: Response;
  /** Size limit of the transport: over it, the answer goes out with TC and no records. */
  maxSize: number;
}

/** Encodes a response; over `maxSize` it is re-encoded with TC set and no records (RFC 2181 §9). */
export function encodeResponse(input: EncodeInput): { buffer: Buffer; truncated: boolean } {
  const full = encode(input, false);
  if (full.length <= input.maxSize) return { buffer: full, truncated: false };
  return { buffer: encode(input, true), truncated: true };
}

function encode(input: EncodeInput, truncate: boolean): Buffer {
  const w = writer;
  w.reset();
  const r = input.response;
  const extended = r.rcode > 15;
  const flags =
    0x8000 | ((input.opcode & 0xf) << 11) | (r.aa ? 0x0400 : 0) | (truncate ? 0x0200 : 0) | (input.rd ? 0x0100 : 0) | (input.cd ? 0x0010 : 0) | (r.rcode & 0xf);
  const answers = truncate ? [] : r.answers;
  const authority = truncate ? [] : r.authority;
  const additional = truncate ? [] : r.additional;
  w.u16(input.id);
  w.u16(flags);
  w.u16(input.question ? 1 : 0);
  w.u16(answers.length);
  w.u16(authority.length);
  w.u16(additional.length + (input.edns ? 1 : 0));
  if (input.question) {
    w.bytes(input.question);
    if (input.qname !== undefined) w.remember(input.qname, 12);
  }
  for (const rr of answers) w.rr(rr);
  for (const rr of authority) w.rr(rr);
  for (const rr of additional) w.rr(rr);
  if (input.edns) {
    // OPT: root name, our payload size, extended rcode in the TTL's high byte (RFC 6891 §6.1.3).
    w.u8(0);
    w.u16(TYPE.OPT);
    w.u16(1232);
    w.u32(extended ? ((r.rcode >> 4) & 0xff) << 24 : 0);
    const ecs = input.edns.ecs;
    if (ecs && r.ecsScope !== undefined) {
      w.u16(4 + 4 + ecs.address.length);
      w.u16(OPT_ECS);
      w.u16(4 + ecs.address.length);
      w.u16(ecs.family);
      w.u8(ecs.sourcePrefix);
      w.u8(r.ecsScope);
      w.bytes(ecs.address);
    } else {
      w.u16(0);
    }
  }
  return w.take();
}

/** The UDP size limit for a query: 512 without EDNS, else its advertised size (capped). */
export function udpLimit(edns: Edns | undefined, cap: number): number {
  if (!edns) return 512;
  return Math.max(512, Math.min(edns.udpSize, cap));
}
