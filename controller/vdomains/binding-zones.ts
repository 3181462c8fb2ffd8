import { MeridianError } from '../../src/core/errors/index.js';

/**
 * The zones Meridian DNS answers for: the gateway zone (the unified name and every
 * `<uuid>.<zone>`, from virtual domains only) and the business zones delegated to it, where a
 * bound name is answered with the CNAME to its virtual domain (dns/stages.ts). Any other name
 * is REFUSED there; a binding for it works only through a CNAME the operator publishes at the
 * DNS that serves that name.
 */
export interface DnsZones {
  zone: string;
  delegated: readonly string[];
}

const bare = (name: string): string => name.toLowerCase().replace(/\.$/, '');
const within = (name: string, zone: string): boolean => name === zone || name.endsWith(`.${zone}`);

export function zonesText(z: DnsZones): string {
  return `${bare(z.zone)} (virtual domains)${z.delegated.length ? `, delegated: ${z.delegated.map(bare).join(', ')}` : ', no delegated zones'}`;
}

/** Refuses a binding Meridian DNS could never answer, nor anyone else point at. */
export function checkBindingZone(domain: string, z: DnsZones): void {
  const name = bare(domain);
  const zone = bare(z.zone);
  const refuse = (reason: string) => new MeridianError('MERIDIAN_ERR_CONTROLLER_BINDING_ZONE', { domain, reason, zones: zonesText(z) }, { field: 'domain' });
  if (within(name, zone)) throw refuse(`it is in the gateway zone ${zone}, whose names are answered from virtual domains only`);
  const apex = z.delegated.map(bare).find((d) => name === d);
  if (apex) throw refuse(`it is the apex of the delegated zone ${apex}, which holds its SOA and NS (a CNAME cannot live there)`);
}

/** Undefined when Meridian DNS answers the name itself; else what the operator must publish. */
export function bindingWarning(domain: string, z: DnsZones, record: string): string | undefined {
  const name = bare(domain).replace(/^\*\./, '');
  if (z.delegated.map(bare).some((d) => within(name, d))) return undefined;
  return `${bare(domain)} is outside the zones Meridian DNS serves (${zonesText(z)}), which answers REFUSED for it: publish this record at the DNS serving ${name}: ${record}`;
}
