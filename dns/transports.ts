/**
 * UDP and TCP listeners: dns2's servers, with their packet handling replaced by ours.
 * dns2 parses with its own Packet class and drops what it cannot parse without a reply; we
 * need the raw bytes to answer FORMERR and to stay on the fast path (see wire.ts), so each
 * subclass overrides the `handle` method dns2 wires to the socket in its constructor.
 */
import type { RemoteInfo } from 'node:dgram';
import type { Socket } from 'node:net';
import dns2 from 'dns2';
import { ConnectionTable, addressKey, expired, type CloseReason, type ConnectionClock, type TcpLimits } from './tcp-limits.js';

export type QueryHandler = (raw: Buffer, transport: 'udp' | 'tcp', peer: string) => Buffer | undefined;

export class UdpTransport extends dns2.UDPServer {
  private onQuery: QueryHandler = () => undefined;

  constructor(type: 'udp4' | 'udp6', onQuery: QueryHandler) {
    super({ type });
    this.onQuery = onQuery;
    // A send error (peer gone, buffer full) concerns one datagram, never the server.
    this.on('error', () => undefined);
  }

  override handle(data: Buffer, rinfo: RemoteInfo): void {
    let out: Buffer | undefined;
    try {
      out = this.onQuery(data, 'udp', rinfo.address);
    } catch {
      return; // a bug in one answer must not take the listener down
    }
    if (out) this.send(out, rinfo.port, rinfo.address, () => undefined);
  }
}

/** Bytes of one pending message plus its length prefix, twice: what reading may hold for one connection. */
const MAX_TCP_BUFFER = 2 * (65_535 + 2);
const EMPTY = Buffer.alloc(0);

/** One TCP connection: its socket, the query bytes read but not answered, its clock. */
interface Connection extends ConnectionClock {
  readonly socket: Socket;
  readonly peer: string;
  pending: Buffer;
  /** Reading stopped until the answers buffered drain. */
  paused: boolean;
}

export interface TcpStats {
  connections: number;
  /** Answer bytes buffered in user space, all connections. */
  writeBuffered: number;
  /** Most answer bytes one connection has held in user space since start: the bound plus one answer at most. */
  peakWriteBuffered: number;
}

export interface TcpEvents {
  /** A connection closed or refused by a limit (not by its client). */
  onClose(reason: CloseReason): void;
  /** Reading of a connection paused because its answers were not read. */
  onPause(): void;
}

/**
 * RFC 7766: length-prefixed messages, several per connection, answered in order. Memory per
 * connection is bounded on both sides: at most MAX_TCP_BUFFER of queries read ahead, and
 * answers buffered in user space stay under `writeBufferBytes` plus one answer (reading pauses
 * above it, resumes on 'drain', and the connection closes if it stays above for
 * `writeStallMs`). Deadlines are checked by one sweep timer, not per socket: a socket timeout
 * is reset by every byte, so a trickle would keep it forever.
 */
export class TcpTransport extends dns2.TCPServer {
  private onQuery: QueryHandler = () => undefined;
  private readonly table: ConnectionTable<Connection>;
  private sweeper: NodeJS.Timeout | undefined;
  private peakWriteBuffered = 0;

  constructor(onQuery: QueryHandler, private readonly limits: TcpLimits, private readonly events: TcpEvents) {
    super();
    this.onQuery = onQuery;
    this.table = new ConnectionTable(limits);
  }

  /** Open connections, the answer bytes they hold in user space now, and the most one held. */
  stats(): TcpStats {
    let writeBuffered = 0;
    for (const c of this.table.entries()) writeBuffered += c.socket.writableLength;
    return { connections: this.table.size, writeBuffered, peakWriteBuffered: this.peakWriteBuffered };
  }

  /** Ends every open connection (net.Server.close() waits for them otherwise). */
  destroyAll(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const c of this.table.entries()) {
      c.socket.destroy();
      this.table.delete(c);
    }
  }

  handle(socket: Socket): void {
    const peer = socket.remoteAddress ?? '';
    const key = addressKey(peer);
    if (!this.table.admits(key)) {
      socket.destroy();
      this.events.onClose('per_address_limit');
      return;
    }
    // Full: make room by closing the least recently active connection, so a flood of idle or
    // trickling connections cannot lock out a resolver retrying over TCP after a TC answer.
    const victim = this.table.victim();
    if (victim) this.closeConnection(victim, 'evicted');
    const c: Connection = { socket, peer, key, activeAt: Date.now(), messageAt: 0, stalledAt: 0, pending: EMPTY, paused: false };
    this.table.add(c);
    this.startSweep();
    socket.setNoDelay(true);
    socket.on('close', () => this.table.delete(c));
    socket.on('error', () => socket.destroy());
    // Every query read is answered before more is read, so when the client half-closes every answer is queued.
    socket.on('end', () => socket.end());
    socket.on('data', (chunk: Buffer) => {
      c.pending = c.pending.length === 0 ? chunk : Buffer.concat([c.pending, chunk]);
      if (c.pending.length > MAX_TCP_BUFFER) socket.destroy();
      else this.answer(c);
    });
    socket.on('drain', () => {
      if (!c.paused) return;
      c.paused = false;
      c.stalledAt = 0;
      this.answer(c);
      if (!c.paused) socket.resume();
    });
  }

  /** Answers the complete messages pending, until the answers buffered pass the bound. */
  private answer(c: Connection): void {
    const { socket } = c;
    const now = Date.now();
    let buf = c.pending;
    let answered = false;
    while (!c.paused && buf.length >= 2) {
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) break;
      const msg = buf.subarray(2, 2 + len);
      buf = buf.subarray(2 + len);
      answered = true;
      let out: Buffer | undefined;
      try {
        out = this.onQuery(msg, 'tcp', c.peer);
      } catch {
        out = undefined;
      }
      if (!out) {
        // Nothing sensible to say over a stream that carries garbage: close it.
        socket.destroy();
        return;
      }
      const frame = Buffer.allocUnsafe(2 + out.length);
      frame.writeUInt16BE(out.length, 0);
      out.copy(frame, 2);
      socket.write(frame);
      const buffered = socket.writableLength;
      if (buffered > this.peakWriteBuffered) this.peakWriteBuffered = buffered;
      if (buffered > this.limits.writeBufferBytes) {
        // The client is not reading: stop reading it too, so the kernel's window closes on it.
        // 'drain' follows because the bound is at least the socket's high-water mark (16 KiB,
        // the schema's minimum): above it write() has returned false.
        c.paused = true;
        c.stalledAt = now;
        socket.pause();
        this.events.onPause();
      }
    }
    c.pending = buf.length === 0 ? EMPTY : buf;
    if (answered) {
      c.activeAt = now;
      c.messageAt = buf.length > 0 ? now : 0;
    } else if (c.messageAt === 0 && buf.length > 0) {
      c.messageAt = now;
    }
  }

  private closeConnection(c: Connection, reason: CloseReason): void {
    c.socket.destroy();
    this.table.delete(c);
    this.events.onClose(reason);
  }

  /** Starts the deadline sweep with the first connection; a few ticks per shortest deadline. */
  private startSweep(): void {
    if (this.sweeper) return;
    const { messageMs, idleMs, writeStallMs } = this.limits;
    const tick = Math.min(1_000, Math.max(10, Math.floor(Math.min(messageMs, idleMs, writeStallMs) / 4)));
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const c of this.table.entries()) {
        const why = expired(c, now, this.limits);
        if (why) this.closeConnection(c, why);
      }
    }, tick);
    this.sweeper.unref();
  }
}
