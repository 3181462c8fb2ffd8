import dns2 from 'dns2';
import type { Logger } from '../core/logger.js';
import { MeridianError } from '../core/errors/index.js';
import type { UpstreamNode } from '../core/model/index.js';
import { dnsQuery, RCODE_NXDOMAIN, type DnsAnswer, type DnsServerAddress, type QueryType, type Transport } from './dns-transport.js';

const { Packet } = dns2;

/** What one resolution of an SRV name gave. */
export type SrvResult =
  | { kind: 'nodes'; nodes: UpstreamNode[]; ttlSeconds: number; transport: Transport }
  /** NXDOMAIN or an empty answer: Consul knows no passing instance under that name. */
  | { kind: 'negative'; transport: Transport };

export interface SrvResolverOptions {
  servers: readonly DnsServerAddress[];
  timeoutMs: number;
  udpAnswerLimit: number;
  logger: Logger;
}

function bare(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** Records lost between what the header announced and what could be parsed. */
function lostRecords(a: DnsAnswer): boolean {
  return a.announced.answers > a.answers.length || a.announced.additionals > a.additionals.length;
}

/**
 * SRV resolution against Consul DNS: UDP first, TCP when the UDP answer is or may be cut,
 * addresses from the additional section, a separate A/AAAA query for a target without one.
 */
export class SrvResolver {
  private readonly opts: SrvResolverOptions;
  /** Index of the server that answered last: a dead first server costs one timeout, not one per query. */
  private preferred = 0;

  constructor(opts: SrvResolverOptions) {
    this.opts = opts;
  }

  /**
   * `startWith: 'tcp'` skips UDP when the previous answer for this name needed TCP anyway
   * (services with more instances than Consul's udp_answer_limit), saving a round trip.
   */
  async resolve(name: string, startWith: Transport = 'udp'): Promise<SrvResult> {
    let answer = await this.ask(name, 'SRV', startWith);
    if (answer.transport === 'udp' && this.looksCut(answer)) {
      try {
        answer = await this.ask(name, 'SRV', 'tcp');
      } catch (err) {
        // A partial answer still lists only passing instances: better than none, so it is used
        // when TCP fails (say a firewall drops 8600/tcp), and the failure is logged.
        if (answer.rcode !== 0) throw err;
        this.opts.logger.warn({ err, name }, 'discovery: TCP re-query of a cut UDP answer failed; using the partial UDP answer');
      }
    }
    if (answer.rcode === RCODE_NXDOMAIN) return { kind: 'negative', transport: answer.transport };
    if (answer.rcode !== 0) throw new MeridianError('MERIDIAN_ERR_DISCOVERY_RCODE', { server: this.serverLabel(), name, rcode: answer.rcode });

    const srvs = answer.answers.filter((r) => r.type === Packet.TYPE.SRV && typeof r.port === 'number' && typeof r.target === 'string');
    if (srvs.length === 0) return { kind: 'negative', transport: answer.transport };

    const addresses = new Map<string, string[]>();
    let ttl = Number.POSITIVE_INFINITY;
    for (const r of answer.additionals) {
      if ((r.type === Packet.TYPE.A || r.type === Packet.TYPE.AAAA) && typeof r.address === 'string') {
        const key = bare(r.name);
        addresses.set(key, [...(addresses.get(key) ?? []), r.address]);
      }
    }
    // Targets without an address in the additional section (Consul trimmed it to fit, or the
    // target is a node name) are resolved on their own, once per target.
    const missing = [...new Set(srvs.map((r) => bare(r.target ?? '')).filter((t) => !addresses.has(t)))];
    await Promise.all(missing.map(async (target) => {
      const found = await this.addressesOf(target);
      if (found.addresses.length > 0) {
        addresses.set(target, found.addresses);
        ttl = Math.min(ttl, found.ttl);
      } else {
        this.opts.logger.warn({ name, target }, 'discovery: SRV target has no address; instance skipped');
      }
    }));

    const nodes: UpstreamNode[] = [];
    for (const r of srvs) {
      const target = bare(r.target ?? '');
      const hosts = addresses.get(target);
      if (!hosts) continue;
      ttl = Math.min(ttl, r.ttl);
      // Consul weights are >= 1; a 0 would mean "standby" in Meridian's model, which Consul never meant.
      const weight = Math.min(65535, Math.max(1, r.weight ?? 1));
      for (const host of hosts) nodes.push({ host, port: r.port as number, weight, metadata: { consul_target: target } });
    }
    if (nodes.length === 0) return { kind: 'negative', transport: answer.transport };
    return { kind: 'nodes', nodes, ttlSeconds: Number.isFinite(ttl) ? ttl : 0, transport: answer.transport };
  }

  /**
   * A UDP answer that may not hold every instance: TC set (enable_truncate = true), records
   * announced but not parseable (the packet was cut or damaged), or exactly as many SRV records
   * as Consul's udp_answer_limit (Consul cuts to that many WITHOUT TC unless enable_truncate).
   */
  private looksCut(a: DnsAnswer): boolean {
    if (a.truncated || lostRecords(a)) return true;
    const srvCount = a.answers.filter((r) => r.type === Packet.TYPE.SRV).length;
    return srvCount >= this.opts.udpAnswerLimit;
  }

  private async addressesOf(target: string): Promise<{ addresses: string[]; ttl: number }> {
    for (const type of ['A', 'AAAA'] as const) {
      let a = await this.ask(target, type, 'udp');
      if (a.truncated || lostRecords(a)) a = await this.ask(target, type, 'tcp');
      const recs = a.answers.filter((r) => r.type === Packet.TYPE[type] && typeof r.address === 'string');
      if (recs.length > 0) return { addresses: recs.map((r) => r.address as string), ttl: Math.min(...recs.map((r) => r.ttl)) };
    }
    return { addresses: [], ttl: 0 };
  }

  /** One question, trying each configured server in turn starting from the one that last answered. */
  private async ask(name: string, type: QueryType, transport: Transport): Promise<DnsAnswer> {
    const servers = this.opts.servers;
    let lastError: unknown;
    for (let i = 0; i < servers.length; i++) {
      const index = (this.preferred + i) % servers.length;
      const server = servers[index];
      if (!server) continue;
      try {
        const answer = await dnsQuery(server, name, type, transport, this.opts.timeoutMs);
        this.preferred = index;
        return answer;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  private serverLabel(): string {
    const s = this.opts.servers[this.preferred];
    return s ? `${s.host}:${s.port}` : 'none';
  }
}
