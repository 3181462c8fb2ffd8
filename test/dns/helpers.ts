/** Shared by the DNS and prober suites: real DNS queries (dns2 packets, dig), stand-in gateway nodes. */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { createServer, type Server } from 'node:http';
import { execFile, spawnSync } from 'node:child_process';
import dns2 from 'dns2';
import { allocateLoopback } from '../harness/index.js';
import { validate } from '../../src/core/validate.js';
import { DnsProgramConfig } from '../../dns/config.js';
import type { Region } from '../../src/core/model/index.js';
import { tcpExchange } from '../../controller/vdomains/dns-query.js';

/** The parts of dns2's Packet these tests use (its published types describe dns2 2.x). */
interface ParsedPacket {
  header: { id: number; rcode: number; aa: number; tc: number; ra: number };
  answers: Answer[];
  authorities: Answer[];
  additionals: Array<Answer & { rdata?: Array<{ ednsCode?: number; scopePrefixLength?: number }> }>;
}
interface PacketApi {
  new (): { header: { id: number; rd: number }; questions: Array<{ name: string; type: number; class: number }>; additionals: unknown[]; toBuffer(): Buffer };
  parse(buf: Buffer): ParsedPacket;
  TYPE: typeof dns2.Packet.TYPE;
  CLASS: typeof dns2.Packet.CLASS;
  Resource: { EDNS: ((rdata: unknown[]) => unknown) & { ECS(clientIp: string): unknown } };
}
export const Packet = dns2.Packet as unknown as PacketApi;

export const ZONE = 'gw.example.net';
export const DNS_PORT = 5300;

export interface Answer {
  name: string;
  type: number;
  ttl: number;
  address?: string;
  domain?: string;
  data?: string | string[];
  primary?: string;
  admin?: string;
  serial?: number;
  minimum?: number;
  ns?: string;
}

export interface Reply {
  id: number;
  rcode: number;
  aa: boolean;
  tc: boolean;
  ra: boolean;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
  /** ECS scope prefix echoed back, when there is one. */
  scope?: number;
}

export async function dnsAddress(): Promise<string> {
  return allocateLoopback([DNS_PORT], [DNS_PORT]);
}

export function dnsConfig(host: string, etcd: string, extra: Record<string, unknown> = {}): DnsProgramConfig {
  return validate(DnsProgramConfig, { listen: `${host}:${DNS_PORT}`, admin: `${host}:0`, etcd: { endpoints: [etcd], prefix: '/meridian' }, ...extra });
}

export interface QueryOptions {
  /** ECS client subnet, e.g. '10.1.2.0/24'. */
  ecs?: string;
  /** Add an OPT record (EDNS) even without ECS. */
  edns?: boolean;
  tcp?: boolean;
  /** Local address the query leaves from (steering by resolver address). */
  bind?: string;
  rd?: boolean;
}

/** Encodes a query with dns2's Packet (the client side of the dns2 library). */
export function buildQuery(name: string, type: number, opts: QueryOptions = {}): Buffer {
  const q = new Packet();
  q.header.id = Math.floor(Math.random() * 65_535);
  q.header.rd = opts.rd === false ? 0 : 1;
  q.questions.push({ name, type, class: Packet.CLASS.IN });
  if (opts.ecs) q.additionals.push(Packet.Resource.EDNS([Packet.Resource.EDNS.ECS(opts.ecs)]));
  else if (opts.edns) q.additionals.push(Packet.Resource.EDNS([]));
  return q.toBuffer();
}

function toReply(buf: Buffer): Reply {
  const p = Packet.parse(buf);
  const opt = p.additionals.find((a) => a.type === Packet.TYPE.EDNS);
  const ecs = opt?.rdata?.find((o) => o.ednsCode === 8);
  return {
    id: p.header.id,
    rcode: p.header.rcode,
    aa: p.header.aa === 1,
    tc: p.header.tc === 1,
    ra: p.header.ra === 1,
    answers: p.answers,
    authorities: p.authorities,
    additionals: p.additionals.filter((a) => a.type !== Packet.TYPE.EDNS),
    ...(ecs?.scopePrefixLength !== undefined ? { scope: ecs.scopePrefixLength } : {}),
  };
}

export function sendUdp(host: string, port: number, payload: Buffer, bind?: string, timeoutMs = 2_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error('DNS query timed out'));
    }, timeoutMs);
    sock.on('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve(msg);
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.bind({ address: bind ?? '127.0.0.1', port: 0 }, () => sock.send(payload, port, host));
  });
}

export function sendTcp(host: string, port: number, payload: Buffer, timeoutMs = 2_000): Promise<Buffer> {
  return tcpExchange(isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`, payload, timeoutMs);
}

export async function query(host: string, name: string, type: number, opts: QueryOptions = {}): Promise<Reply> {
  const payload = buildQuery(name, type, opts);
  const raw = opts.tcp ? await sendTcp(host, DNS_PORT, payload) : await sendUdp(host, DNS_PORT, payload, opts.bind);
  return toReply(raw);
}

/** The A/AAAA addresses of an answer, sorted. */
export function addresses(r: Reply): string[] {
  return r.answers.filter((a) => a.type === Packet.TYPE.A || a.type === Packet.TYPE.AAAA).map((a) => a.address ?? '').sort();
}

let digChecked: boolean | undefined;
/**
 * `dig` when installed (dnsutils); undefined otherwise, so a test can say why it skips.
 * Asynchronous on purpose: the server under test runs in this process and must keep answering.
 */
export async function dig(args: string[]): Promise<string | undefined> {
  if (digChecked === undefined) digChecked = spawnSync('dig', ['-v'], { encoding: 'utf8' }).status === 0;
  if (!digChecked) return undefined;
  return new Promise((resolve) => {
    execFile('dig', ['+time=2', '+tries=1', ...args], { encoding: 'utf8', timeout: 10_000 }, (_err, stdout) => resolve(stdout));
  });
}

// ---- gateway stand-ins ----

/**
 * A stand-in for a gateway node while `meridian gateway` is being built: admin /healthz
 * (200, or 503 when told to drain or when asked from a blocked source address) and a public
 * TCP port that accepts connections.
 */
export class StandInNode {
  private admin: Server | undefined;
  private pub: Server | undefined;
  draining = false;
  /** Probe source addresses answered 503: simulates a prober cut off from this node. */
  readonly blocked = new Set<string>();
  hits = 0;

  constructor(readonly host: string, readonly adminPort = 9080, readonly port = 8080) {}

  static async create(): Promise<StandInNode> {
    const node = new StandInNode(await allocateLoopback([9080, 8080]));
    await node.start();
    return node;
  }

  get adminUrl(): string {
    return `http://${this.host}:${this.adminPort}`;
  }

  ref(name: string): { name: string; address: string; port: number; admin: string } {
    return { name, address: this.host, port: this.port, admin: this.adminUrl };
  }

  async start(): Promise<void> {
    this.admin = createServer((req, res) => {
      this.hits++;
      const from = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      const ok = req.url === '/healthz' && !this.draining && !this.blocked.has(from);
      res.writeHead(ok ? 200 : 503, { connection: 'close' });
      res.end(ok ? 'ok' : 'unavailable');
    });
    this.pub = createServer((_req, res) => res.end('gateway'));
    await Promise.all([
      new Promise<void>((r) => this.admin?.listen(this.adminPort, this.host, () => r())),
      new Promise<void>((r) => this.pub?.listen(this.port, this.host, () => r())),
    ]);
  }

  /** Like a killed process: listeners gone, connections cut. */
  async kill(): Promise<void> {
    for (const s of [this.admin, this.pub]) {
      if (!s) continue;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    this.admin = undefined;
    this.pub = undefined;
  }
}

export function regionOf(name: string, clusters: Array<{ name: string; nodes: ReturnType<StandInNode['ref']>[]; threshold?: number; isp?: string }>, extra: Partial<Region> = {}): Region {
  return {
    name,
    failover: [],
    drained: false,
    cidrs: [],
    clusters: clusters.map((c) => ({ name: c.name, threshold: c.threshold ?? 1, weight: 1, nodes: c.nodes, ...(c.isp ? { isp: c.isp } : {}) })),
    ...extra,
  };
}
