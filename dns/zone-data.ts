/**
 * The authoritative data of the zones: what each owned name holds, apart from steering.
 * Names are lower case without the trailing dot.
 */
import type { DnsProgramConfig } from './config.js';
import { TYPE, addressFamily, type Rr, type Soa } from './wire.js';

export interface ZoneSettings {
  /** The gateway zone. */
  zone: string;
  /** Every zone owned, longest first (so the most specific owner is found first). */
  zones: string[];
  unified: string;
  records: number;
  ttl: number;
  negativeTtl: number;
  soaTtl: number;
  nameservers: Array<{ name: string; address: string }>;
  txt: string[];
  defaultRegion?: string;
}

function norm(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

export function zoneSettings(config: DnsProgramConfig): ZoneSettings {
  const zone = norm(config.zone);
  const listenHost = config.listen.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const ns = config.nameservers.length > 0 ? config.nameservers : [{ name: 'ns1', address: listenHost }];
  return {
    zone,
    zones: [...new Set([zone, ...config.delegated_zones.map(norm)])].sort((a, b) => b.length - a.length),
    unified: `${norm(config.unified_name)}.${zone}`,
    records: config.records,
    ttl: config.ttl,
    negativeTtl: config.negative_ttl,
    soaTtl: config.soa_ttl,
    nameservers: ns.map((n) => ({ name: n.name.includes('.') ? norm(n.name) : `${norm(n.name)}.${zone}`, address: n.address })),
    txt: config.txt,
    ...(config.default_region ? { defaultRegion: config.default_region } : {}),
  };
}

/** The zone owning `qname`, or undefined: a name outside every owned zone is REFUSED. */
export function owningZone(settings: ZoneSettings, qname: string): string | undefined {
  for (const z of settings.zones) {
    if (qname === z || qname.endsWith(`.${z}`)) return z;
  }
  return undefined;
}

export function soaRecord(settings: ZoneSettings, zone: string, serial: number): Rr {
  const soa: Soa = {
    mname: settings.nameservers[0]?.name ?? `ns1.${settings.zone}`,
    rname: `hostmaster.${zone}`,
    serial: serial >>> 0,
    // Secondaries are not expected (state comes from etcd); values are the conventional ones.
    refresh: 3600,
    retry: 600,
    expire: 604_800,
    minimum: settings.negativeTtl,
  };
  // RFC 2308 §3: a negative answer's SOA is cached for min(SOA TTL, MINIMUM).
  return { name: zone, ttl: Math.min(settings.soaTtl, settings.negativeTtl), data: { type: TYPE.SOA, soa } };
}

export function nsRecords(settings: ZoneSettings, zone: string): Rr[] {
  return settings.nameservers.map((n) => ({ name: zone, ttl: settings.soaTtl, data: { type: TYPE.NS, target: n.name } }));
}

/** A/AAAA records of the name servers (glue in NS answers, and answers for the ns names). */
export function nsAddressRecords(settings: ZoneSettings, qtype: number, name?: string): Rr[] {
  const out: Rr[] = [];
  for (const n of settings.nameservers) {
    if (name !== undefined && n.name !== name) continue;
    const fam = addressFamily(n.address);
    if (fam === 4 && (qtype === TYPE.A || qtype === TYPE.ANY)) out.push({ name: n.name, ttl: settings.soaTtl, data: { type: TYPE.A, address: n.address } });
    if (fam === 6 && (qtype === TYPE.AAAA || qtype === TYPE.ANY)) out.push({ name: n.name, ttl: settings.soaTtl, data: { type: TYPE.AAAA, address: n.address } });
  }
  return out;
}

export function isNameserver(settings: ZoneSettings, qname: string): boolean {
  return settings.nameservers.some((n) => n.name === qname);
}

export function apexTxt(settings: ZoneSettings, zone: string): Rr[] {
  return settings.txt.length > 0 ? [{ name: zone, ttl: settings.soaTtl, data: { type: TYPE.TXT, strings: settings.txt } }] : [];
}
