import { MeridianError } from '../../src/core/errors/index.js';
import type { Region, VDomain } from '../../src/core/model/index.js';
import { ask, QTYPE, type DnsRecord } from './dns-query.js';

/** `GET /v1/vdomains/{id}/answer?region=X`: what a client in region X gets from the DNS servers now. */
export interface VDomainAnswer {
  vdomain: string;
  /** The name asked: `<uuid>.<zone>`. */
  name: string;
  region: string;
  /** The ECS subnet sent: the region's first CIDR; null when it has none (then the server locates the controller's own address). */
  client_subnet: string | null;
  /** The DNS server (host:port, as configured) that answered. */
  server: string;
  transport: 'udp' | 'tcp';
  rcode: string;
  authoritative: boolean;
  /** ECS scope prefix of the answer: the length of the CIDR the server located the subnet by. */
  scope: number | null;
  /** The A, then the AAAA answer's records (with the CNAME chain, if any), as the server sent them. */
  records: DnsRecord[];
  took_ms: number;
  /** Servers asked before this one that did not answer, with why. */
  failed: Array<{ server: string; error: string }>;
}

export interface DnsAsker {
  servers: readonly string[];
  timeoutMs: number;
}

/**
 * Asks the configured DNS servers in order, A and AAAA at once, as a resolver in the region's
 * first client subnet would: the first server that answers both is the answer. None
 * configured, or none answering: 503 with a coded error naming each server's failure.
 */
export async function answerFor(dns: DnsAsker, input: { vdomain: { id: string; value: VDomain }; zone: string; region: Region }): Promise<VDomainAnswer> {
  const { vdomain, region } = input;
  if (dns.servers.length === 0) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_NO_DNS_SERVERS', {});
  const name = (vdomain.value.name ?? `${vdomain.value.uuid}.${input.zone}`).toLowerCase();
  const subnet = region.cidrs[0]?.cidr;
  const failed: VDomainAnswer['failed'] = [];
  for (const server of dns.servers) {
    const t0 = performance.now();
    try {
      const q = { name, timeoutMs: dns.timeoutMs, ...(subnet ? { subnet } : {}) };
      const [a, aaaa] = await Promise.all([ask(server, { ...q, qtype: QTYPE.A }), ask(server, { ...q, qtype: QTYPE.AAAA })]);
      // The CNAME (if any) comes in both answers: listed once.
      const seen = new Set<string>();
      const records = [...a.answers, ...aaaa.answers].filter((r) => !seen.has(`${r.type} ${r.value}`) && seen.add(`${r.type} ${r.value}`));
      return {
        vdomain: vdomain.id, name, region: region.name, client_subnet: subnet ?? null, server,
        transport: a.transport === 'tcp' || aaaa.transport === 'tcp' ? 'tcp' : 'udp',
        rcode: a.rcode, authoritative: a.authoritative, scope: a.scope, records,
        took_ms: Math.round(performance.now() - t0), failed,
      };
    } catch (err) {
      failed.push({ server, error: (err as Error).message });
    }
  }
  throw new MeridianError('MERIDIAN_ERR_CONTROLLER_DNS_UNREACHABLE', { name, errors: failed.map((f) => `${f.server}: ${f.error}`).join('; ') });
}
