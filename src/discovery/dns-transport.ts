import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIPv6, connect } from 'node:net';
import dns2 from 'dns2';
import { MeridianError } from '../core/errors/index.js';

const { Packet } = dns2;

export type Transport = 'udp' | 'tcp';
export type QueryType = 'SRV' | 'A' | 'AAAA';

export interface DnsServerAddress {
  host: string;
  port: number;
}

/** A parsed answer plus the header counts, which say whether records were lost on the way. */
export interface DnsAnswer {
  transport: Transport;
  rcode: number;
  truncated: boolean;
  /** Counts announced in the header; more than parsed means the packet was cut or damaged. */
  announced: { answers: number; additionals: number };
  answers: readonly dns2.Packet.Resource[];
  additionals: readonly dns2.Packet.Resource[];
}

export const RCODE_NXDOMAIN = 3;

function serverName(server: DnsServerAddress): string {
  return isIPv6(server.host) ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
}

function encodeQuery(id: number, name: string, type: QueryType): Buffer {
  const query = new Packet();
  query.header.id = id;
  // Consul is authoritative for its domain: no recursion asked for.
  query.header.rd = 0;
  query.questions.push({ name, type: Packet.TYPE[type], class: Packet.CLASS.IN } as dns2.Packet.Question);
  return query.toBuffer();
}

function decode(buf: Buffer, transport: Transport): DnsAnswer {
  // dns2's parser skips records it cannot decode (it keeps going), so the header counts
  // compared with what was parsed are how a damaged or cut packet is recognised.
  const packet = Packet.parse(buf);
  return {
    transport,
    rcode: packet.header.rcode,
    truncated: packet.header.tc === 1,
    announced: { answers: packet.header.ancount, additionals: packet.header.arcount },
    answers: packet.answers.filter((r) => r !== undefined && r !== null),
    additionals: packet.additionals.filter((r) => r !== undefined && r !== null),
  };
}

/**
 * One DNS query over UDP or TCP with dns2's packet codec. The transports are ours rather than
 * dns2's clients because ours must (a) time out on TCP too (a frozen Consul accepts the
 * connection and never answers, and dns2's TCP client would wait forever, holding the
 * coalesced refresh), (b) report a malformed answer at once instead of dropping it and waiting
 * for the timeout, and (c) leave the TC decision to the resolver, which also catches answers
 * Consul cut without setting TC.
 */
export function dnsQuery(server: DnsServerAddress, name: string, type: QueryType, transport: Transport, timeoutMs: number): Promise<DnsAnswer> {
  return transport === 'udp' ? udpQuery(server, name, type, timeoutMs) : tcpQuery(server, name, type, timeoutMs);
}

function udpQuery(server: DnsServerAddress, name: string, type: QueryType, timeoutMs: number): Promise<DnsAnswer> {
  const id = randomInt(0x10000);
  const socket = createSocket(isIPv6(server.host) ? 'udp6' : 'udp4');
  const where = serverName(server);
  return new Promise<DnsAnswer>((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, answer?: DnsAnswer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else if (answer) resolve(answer);
    };
    const timer = setTimeout(() => finish(new MeridianError('MERIDIAN_ERR_DISCOVERY_TIMEOUT', { server: where, name, transport: 'udp', ms: timeoutMs })), timeoutMs);
    socket.on('error', (err) => finish(new MeridianError('MERIDIAN_ERR_DISCOVERY_UNAVAILABLE', { server: where, transport: 'udp', reason: err.message }, { cause: err })));
    socket.on('message', (msg, rinfo) => {
      // Only the server we asked, and only our query id: a late answer to an earlier query
      // on a reused port is not ours.
      if (rinfo.port !== server.port || rinfo.address !== server.host) return;
      if (msg.length < 12) {
        finish(new MeridianError('MERIDIAN_ERR_DISCOVERY_MALFORMED', { server: where, name, transport: 'udp', reason: `${msg.length}-byte packet, shorter than a DNS header` }));
        return;
      }
      if (msg.readUInt16BE(0) !== id) return;
      try {
        finish(undefined, decode(msg, 'udp'));
      } catch (err) {
        finish(new MeridianError('MERIDIAN_ERR_DISCOVERY_MALFORMED', { server: where, name, transport: 'udp', reason: (err as Error).message }, { cause: err }));
      }
    });
    // A connected socket: the kernel then reports ICMP port-unreachable as ECONNREFUSED, so a
    // dead Consul agent is noticed at once instead of after the query timeout.
    socket.connect(server.port, server.host, () => {
      socket.send(encodeQuery(id, name, type), (err) => {
        if (err) finish(new MeridianError('MERIDIAN_ERR_DISCOVERY_UNAVAILABLE', { server: where, transport: 'udp', reason: err.message }, { cause: err }));
      });
    });
  });
}

function tcpQuery(server: DnsServerAddress, name: string, type: QueryType, timeoutMs: number): Promise<DnsAnswer> {
  const id = randomInt(0x10000);
  const where = serverName(server);
  const query = encodeQuery(id, name, type);
  const frame = Buffer.alloc(2 + query.length);
  frame.writeUInt16BE(query.length, 0);
  query.copy(frame, 2);
  return new Promise<DnsAnswer>((resolve, reject) => {
    const socket = connect({ host: server.host, port: server.port });
    let done = false;
    let buf = Buffer.alloc(0);
    const finish = (err: Error | undefined, answer?: DnsAnswer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else if (answer) resolve(answer);
    };
    const malformed = (reason: string, cause?: unknown) =>
      finish(new MeridianError('MERIDIAN_ERR_DISCOVERY_MALFORMED', { server: where, name, transport: 'tcp', reason }, cause === undefined ? undefined : { cause }));
    const timer = setTimeout(() => finish(new MeridianError('MERIDIAN_ERR_DISCOVERY_TIMEOUT', { server: where, name, transport: 'tcp', ms: timeoutMs })), timeoutMs);
    socket.on('error', (err) => finish(new MeridianError('MERIDIAN_ERR_DISCOVERY_UNAVAILABLE', { server: where, transport: 'tcp', reason: err.message }, { cause: err })));
    socket.on('connect', () => socket.write(frame));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2) return;
      const length = buf.readUInt16BE(0);
      if (buf.length < 2 + length) return;
      const msg = buf.subarray(2, 2 + length);
      if (msg.length < 12) return malformed(`${msg.length}-byte message, shorter than a DNS header`);
      if (msg.readUInt16BE(0) !== id) return malformed('answer id does not match the query');
      try {
        finish(undefined, decode(msg, 'tcp'));
      } catch (err) {
        malformed((err as Error).message, err);
      }
    });
    socket.on('end', () => malformed(`connection closed after ${buf.length} byte(s), before a whole answer`));
  });
}
