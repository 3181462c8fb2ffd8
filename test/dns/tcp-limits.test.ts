/**
 * DNS over TCP under attack (issue 16, items 4 and 5), over real sockets against a running
 * server with real etcd: a client that never reads its answers, connections that trickle a
 * byte at a time, many connections from one address, a full server.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { useServers } from '../harness/index.js';
import { createLogger } from '../../src/core/logger.js';
import { DnsServer } from '../../dns/server.js';
import { ConnectionTable, addressKey, expired, type ConnectionClock, type TcpLimits } from '../../dns/tcp-limits.js';
import { ZONE, DNS_PORT, Packet, dnsAddress, dnsConfig, buildQuery, sendUdp } from './helpers.js';

const quiet = createLogger('dns-test', { level: 'silent' });
/** Apex TXT of about 2.5 KB, the answer size of the report. */
const TXT = Array.from({ length: 10 }, (_, i) => String(i).repeat(250));
/** Client source addresses: 127.250.x.y is outside the harness' server range (127.100-249). */
const base = 1 + Math.floor(Math.random() * 200);
const source = (i: number) => `127.250.${base + Math.floor(i / 250)}.${1 + (i % 250)}`;

let etcdEndpoint: string;
const started: DnsServer[] = [];

async function startDns(extra: Record<string, unknown>): Promise<{ server: DnsServer; host: string }> {
  const host = await dnsAddress();
  const server = new DnsServer(dnsConfig(host, etcdEndpoint, { txt: TXT, ...extra }), quiet);
  await server.start();
  started.push(server);
  return { server, host };
}

async function closedBy(server: DnsServer, reason: string): Promise<number> {
  const m = await server.metrics.tcpClosed.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

function frame(q: Buffer): Buffer {
  const f = Buffer.alloc(2 + q.length);
  f.writeUInt16BE(q.length, 0);
  q.copy(f, 2);
  return f;
}

interface Client {
  socket: Socket;
  closed: boolean;
  closedAt: number;
}

/** A TCP connection from `localAddress`, connected, that tells when the server closes it. */
function open(host: string, localAddress: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: DNS_PORT, localAddress });
    const c: Client = { socket, closed: false, closedAt: 0 };
    socket.on('close', () => {
      c.closed = true;
      c.closedAt = Date.now();
    });
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve(c));
    socket.once('error', reject);
  });
}

/** One query over a fresh TCP connection from `localAddress`; rejects when the server closes without answering. */
function tcpQuery(host: string, localAddress: string, q: Buffer, timeoutMs = 5_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: DNS_PORT, localAddress });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer'));
    }, timeoutMs);
    const done = (err?: Error, out?: Buffer) => {
      clearTimeout(timer);
      socket.destroy();
      if (out) resolve(out);
      else reject(err ?? new Error('closed without an answer'));
    };
    socket.on('connect', () => socket.write(frame(q)));
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(undefined, buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    socket.on('error', (err) => done(err));
    socket.on('close', () => done());
  });
}

const soaQuery = () => buildQuery(ZONE, Packet.TYPE.SOA);
const rcodeOf = (answer: Buffer) => (answer.readUInt16BE(2) & 0xf);
const wait = { timeout: 15_000, interval: 20 };

beforeAll(async () => {
  const servers = await useServers();
  etcdEndpoint = (await servers.etcd()).endpoint;
});

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
});

describe('TCP limits: bookkeeping', () => {
  const limits: TcpLimits = { maxConnections: 3, maxPerAddress: 2, messageMs: 100, idleMs: 1_000, writeBufferBytes: 65_536, writeStallMs: 500 };
  const clock = (key: string, activeAt: number): ConnectionClock => ({ key, activeAt, messageAt: 0, stalledAt: 0 });

  it('counts IPv4 addresses one by one and IPv6 by /64', () => {
    expect(addressKey('127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('2001:db8:1:2::1')).toBe(addressKey('2001:db8:1:2:ffff::9'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
  });

  it('a message deadline runs from its first byte; idle only between messages; a stall outranks both', () => {
    expect(expired({ ...clock('a', 0), messageAt: 900 }, 999, limits)).toBeUndefined();
    expect(expired({ ...clock('a', 0), messageAt: 900 }, 1_000, limits)).toBe('message_deadline');
    expect(expired(clock('a', 0), 999, limits)).toBeUndefined();
    expect(expired(clock('a', 0), 1_000, limits)).toBe('idle');
    expect(expired({ ...clock('a', 0), messageAt: 10, stalledAt: 600 }, 1_099, limits)).toBeUndefined();
    expect(expired({ ...clock('a', 0), messageAt: 10, stalledAt: 600 }, 1_100, limits)).toBe('write_stalled');
  });

  it('refuses past the per-address limit; when full, names the least recently active connection', () => {
    const table = new ConnectionTable<ConnectionClock>(limits);
    const [a1, a2, b1] = [clock('a', 30), clock('a', 10), clock('b', 20)] as [ConnectionClock, ConnectionClock, ConnectionClock];
    table.add(a1);
    expect(table.admits('a')).toBe(true);
    expect(table.victim()).toBeUndefined();
    table.add(a2);
    expect(table.admits('a')).toBe(false);
    table.add(b1);
    expect(table.victim()).toBe(a2);
    table.delete(a2);
    table.delete(a2);
    expect(table.admits('a')).toBe(true);
    expect(table.size).toBe(2);
  });
});

describe('item 4: a client that never reads its answers', () => {
  it('stops being read once its answers pass the bound, is closed when it stays there, and others are answered meanwhile', async () => {
    const { server, host } = await startDns({ tcp_write_stall_ms: 1_000 });
    const attacker = await open(host, source(0));
    attacker.socket.pause();
    // 10,000 pipelined apex TXT queries: 26 MB of answers, far more than the kernel buffers hold.
    const txt = frame(buildQuery(ZONE, Packet.TYPE.TXT));
    attacker.socket.write(Buffer.concat(Array.from({ length: 10_000 }, () => txt)));
    await vi.waitFor(async () => expect(await server.metrics.tcpPaused.get()).toMatchObject({ values: [{ value: 1 }] }), wait);

    // Meanwhile a resolver over TCP and one over UDP get their answers.
    expect(rcodeOf(await tcpQuery(host, source(1), buildQuery(ZONE, Packet.TYPE.TXT)))).toBe(0);
    expect(rcodeOf(await sendUdp(host, DNS_PORT, soaQuery()))).toBe(0);

    await vi.waitFor(async () => expect(await closedBy(server, 'write_stalled')).toBe(1), wait);
    expect(server.tcpStats().connections).toBe(0);
    // A client that does not read cannot see the reset either; once it reads, it does.
    attacker.socket.resume();
    await vi.waitFor(() => expect(attacker.closed).toBe(true), wait);
    const stats = server.tcpStats();
    // The bound (64 KiB) plus one answer at most; the old code buffered every answer (GBs).
    expect(stats.peakWriteBuffered).toBeGreaterThan(65_536);
    expect(stats.peakWriteBuffered).toBeLessThan(65_536 + 4_096);
    expect(stats.writeBuffered).toBe(0);
  });
});

describe('item 5: connection exhaustion', () => {
  let server: DnsServer;
  let host: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    ({ server, host } = await startDns({ tcp_message_ms: 60_000, tcp_idle_ms: 60_000 }));
  });

  afterAll(() => {
    for (const c of clients) c.socket.destroy();
  });

  it('one address past its limit (16) is refused while another address gets in', async () => {
    const mine = await Promise.all(Array.from({ length: 16 }, () => open(host, source(300))));
    clients.push(...mine);
    await vi.waitFor(() => expect(server.tcpStats().connections).toBe(16), wait);
    await expect(tcpQuery(host, source(300), soaQuery())).rejects.toThrow();
    expect(await closedBy(server, 'per_address_limit')).toBe(1);
    expect(rcodeOf(await tcpQuery(host, source(301), soaQuery()))).toBe(0);
    expect(mine.every((c) => !c.closed)).toBe(true);
    for (const c of mine) c.socket.destroy();
    await vi.waitFor(() => expect(server.tcpStats().connections).toBe(0), wait);
  });

  it('1,000 trickling connections fill the server; a new client is still answered, the oldest trickler closed', async () => {
    // 63 addresses x 16 (their limit) = 1,008 >= 1,000 (the default tcp_max_connections).
    const tricklers: Client[] = [];
    for (let i = 0; i < 1_000; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, (_, k) => open(host, source(400 + Math.floor((i + k) / 16)))));
      // Each starts a 65,535-byte message it will never finish.
      for (const c of batch) c.socket.write(Buffer.from([0xff, 0xff]));
      tricklers.push(...batch);
    }
    clients.push(...tricklers);
    let ticks = 0;
    const trickle = setInterval(() => {
      for (const c of tricklers) if (!c.closed) c.socket.write(Buffer.from([0]));
      ticks++;
    }, 500);
    try {
      await vi.waitFor(() => expect(server.tcpStats().connections).toBe(1_000), wait);
      expect(rcodeOf(await tcpQuery(host, source(900), soaQuery()))).toBe(0);
      expect(await closedBy(server, 'evicted')).toBe(1);
      await vi.waitFor(() => expect(tricklers.filter((c) => c.closed)).toHaveLength(1), wait);
      expect(tricklers.slice(0, 50).some((c) => c.closed)).toBe(true);
      // The other 999 keep trickling and stay open: only the one evicted was closed.
      const seen = ticks;
      await vi.waitFor(() => expect(ticks).toBeGreaterThanOrEqual(seen + 2), wait);
      expect(tricklers.filter((c) => c.closed)).toHaveLength(1);
      expect(server.tcpStats().connections).toBe(999);
    } finally {
      clearInterval(trickle);
    }
  });
});

describe('item 5: deadlines a trickle cannot extend', () => {
  let server: DnsServer;
  let host: string;

  beforeAll(async () => {
    ({ server, host } = await startDns({ tcp_message_ms: 500, tcp_idle_ms: 1_500 }));
  });

  it('a trickler is closed at its message deadline even though it keeps sending bytes', async () => {
    const c = await open(host, source(1_000));
    const t0 = Date.now();
    let sent = 0;
    // A 65,535-byte message, one byte every 50 ms: it would take an hour to complete.
    c.socket.write(Buffer.from([0xff, 0xff]));
    const trickle = setInterval(() => {
      if (c.closed) return;
      c.socket.write(Buffer.from([0]));
      sent++;
    }, 50);
    try {
      await vi.waitFor(() => expect(c.closed).toBe(true), wait);
    } finally {
      clearInterval(trickle);
    }
    expect(c.closedAt - t0).toBeGreaterThanOrEqual(450);
    expect(c.closedAt - t0).toBeLessThan(5_000);
    expect(sent).toBeGreaterThanOrEqual(5);
    expect(await closedBy(server, 'message_deadline')).toBe(1);
  });

  it('an idle connection is closed after tcp_idle_ms; answering a query on it restarts the count', async () => {
    const c = await open(host, source(1_001));
    let answers = 0;
    c.socket.on('data', () => answers++);
    const t0 = Date.now();
    c.socket.write(frame(soaQuery()));
    await vi.waitFor(() => expect(answers).toBeGreaterThan(0), wait);
    await vi.waitFor(() => expect(c.closed).toBe(true), wait);
    expect(c.closedAt - t0).toBeGreaterThanOrEqual(1_450);
    expect(await closedBy(server, 'idle')).toBe(1);
  });
});
