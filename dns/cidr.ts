/**
 * Longest-prefix match of a client address against the regions' CIDR tables.
 * One hash map per prefix length present, tried from the longest: a lookup costs a handful
 * of map reads whatever the table size, which keeps locating off the hot path's profile.
 */
import { parseIpv6, addressFamily } from './wire.js';

export interface CidrEntry {
  region: string;
  isp?: string;
  prefix: number;
}

function v4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map((p) => Number(p) & 0xff));
}

/** The address' first `prefix` bits as a hex key (family-tagged so v4 and v6 never meet). */
function key(bytes: Buffer, prefix: number, family: 4 | 6): string {
  const full = Math.floor(prefix / 8);
  let out = `${family}:${bytes.toString('hex', 0, full)}`;
  const rest = prefix % 8;
  if (rest > 0) out += (((bytes[full] as number) & (0xff << (8 - rest))) & 0xff).toString(16).padStart(2, '0');
  return `${out}/${prefix}`;
}

/*
 * Client (resolver) addresses repeat: a few recursive resolvers send most queries, so their
 * bytes are cached, apart from the node addresses of answers (wire.ts) so that a flood of
 * clients cannot crowd those out; cleared when full.
 */
const clientV6 = new Map<string, Buffer>();
function clientV6Bytes(address: string): Buffer {
  let b = clientV6.get(address);
  if (!b) {
    if (clientV6.size >= 10_000) clientV6.clear();
    b = parseIpv6(address);
    clientV6.set(address, b);
  }
  return b;
}

export class CidrTable {
  private readonly maps = new Map<number, Map<string, CidrEntry>>();
  private lengths4: number[] = [];
  private lengths6: number[] = [];

  constructor(rows: ReadonlyArray<{ cidr: string; region: string; isp?: string }>) {
    const l4 = new Set<number>();
    const l6 = new Set<number>();
    for (const row of rows) {
      const [addr = '', len = ''] = row.cidr.split('/');
      const family = addressFamily(addr);
      const prefix = Number(len);
      if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) continue;
      const bytes = family === 4 ? v4Bytes(addr) : parseIpv6(addr);
      const slot = family * 1000 + prefix;
      let map = this.maps.get(slot);
      if (!map) this.maps.set(slot, (map = new Map()));
      const k = key(bytes, prefix, family);
      // First writer wins: regions are loaded in name order, so overlaps resolve the same way everywhere.
      if (!map.has(k)) map.set(k, { region: row.region, ...(row.isp ? { isp: row.isp } : {}), prefix });
      (family === 4 ? l4 : l6).add(prefix);
    }
    this.lengths4 = [...l4].sort((a, b) => b - a);
    this.lengths6 = [...l6].sort((a, b) => b - a);
  }

  /** The most specific entry holding `address`, looking only at its first `maxPrefix` bits. */
  lookup(address: string, maxPrefix = 128): CidrEntry | undefined {
    let family = addressFamily(address);
    let addr = address;
    // IPv4-mapped resolver addresses (::ffff:a.b.c.d from dual-stack sockets) are IPv4 clients.
    if (family === 6 && addr.startsWith('::ffff:') && addressFamily(addr.slice(7)) === 4) {
      addr = addr.slice(7);
      family = 4;
    }
    if (family === 0) return undefined;
    const bytes = family === 4 ? v4Bytes(addr) : clientV6Bytes(addr);
    for (const prefix of family === 4 ? this.lengths4 : this.lengths6) {
      if (prefix > maxPrefix) continue;
      const hit = this.maps.get(family * 1000 + prefix)?.get(key(bytes, prefix, family));
      if (hit) return hit;
    }
    return undefined;
  }
}
