/**
 * UDP and TCP listeners: dns2's servers, with their packet handling replaced by ours.
 * dns2 parses with its own Packet class and drops what it cannot parse without a reply; we
 * need the raw bytes to answer FORMERR and to stay on the fast path (see wire.ts), so each
 * subclass overrides the `handle` method dns2 wires to the socket in its constructor.
 */
import type { RemoteInfo } from 'node:dgram';
import type { Socket } from 'node:net';
import dns2 from 'dns2';

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

/** Largest bytes buffered for one TCP connection: one full message plus its length prefix, twice. */
const MAX_TCP_BUFFER = 2 * (65_535 + 2);

export class TcpTransport extends dns2.TCPServer {
  private onQuery: QueryHandler = () => undefined;

  constructor(onQuery: QueryHandler, private readonly idleMs: number) {
    super();
    this.onQuery = onQuery;
    this.maxConnections = 1_000;
  }

  /** RFC 7766: length-prefixed messages, several per connection, answered in order. */
  private readonly sockets = new Set<Socket>();

  /** Ends every open connection (net.Server.close() waits for them otherwise). */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  handle(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    const peer = socket.remoteAddress ?? '';
    let buffered: Buffer = Buffer.alloc(0);
    socket.setTimeout(this.idleMs, () => socket.destroy());
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    // Answers are written synchronously, so when the client half-closes every answer is out.
    socket.on('end', () => socket.end());
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      if (buffered.length > MAX_TCP_BUFFER) {
        socket.destroy();
        return;
      }
      while (buffered.length >= 2) {
        const len = buffered.readUInt16BE(0);
        if (buffered.length < 2 + len) break;
        const msg = buffered.subarray(2, 2 + len);
        buffered = buffered.subarray(2 + len);
        let out: Buffer | undefined;
        try {
          out = this.onQuery(msg, 'tcp', peer);
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
      }
    });
  }
}
