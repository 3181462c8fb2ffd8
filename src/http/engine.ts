/**
 * createHttpEngine: Meridian's HTTP/1.1 server engine on node:net / node:tls sockets. It knows
 * nothing of routes or plugins: it parses requests strictly, runs them one at a time per
 * connection, writes responses, enforces limits and deadlines, and hands upgrades over.
 */
import type { Server as NetServer, Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import { Connection } from './connection.js';
import { engineConfig, type EngineConfig, type HttpEngineOptions } from './engine-config.js';
import { sharedReadSocket } from './shared-reads.js';

export interface HttpEngine {
  /** Serves one connected socket (a net.Socket, or a TLSSocket after its handshake). */
  serve(socket: Socket): void;
  /**
   * Serves every connection of a server: 'secureConnection' of a tls.Server, 'connection' of a
   * net.Server. Create the server with `allowHalfOpen: true` so a client's half-close does not
   * cut a response in progress, and a net.Server with `pauseOnConnect: true` so its sockets
   * read into the engine's shared buffer (shared-reads.ts).
   */
  attach(server: NetServer | TlsServer): void;
  /** Connections being served. */
  readonly connections: number;
  /** The sockets of the connections being served (a plain-TCP one is not the socket the server accepted: see shared-reads.ts). */
  sockets(): Socket[];
  /** Closes idle connections now and the others after their current response (drain). */
  shutdown(): void;
  /** Stops the deadline sweep and destroys every connection. */
  close(): void;
  /** Bytes buffered by the engine over all connections (unparsed input + request bodies not yet read). */
  bufferedBytes(): number;
}

class Engine implements HttpEngine {
  private readonly live = new Set<Connection>();
  private sweep: NodeJS.Timeout | null = null;
  private readonly gone = (c: Connection): void => {
    this.live.delete(c);
    if (this.live.size === 0 && this.sweep) { clearInterval(this.sweep); this.sweep = null; }
  };

  constructor(private readonly config: EngineConfig) {}

  get connections(): number { return this.live.size; }

  sockets(): Socket[] {
    return [...this.live].map((c) => c.socket);
  }

  serve(socket: Socket): void {
    this.add(socket, false);
  }

  attach(server: NetServer | TlsServer): void {
    if ('addContext' in server) server.on('secureConnection', (socket: Socket) => this.serve(socket));
    else server.on('connection', (socket: Socket) => this.accept(socket, server));
  }

  /** A plain-TCP connection: read into the shared buffer when the server allows it (see shared-reads.ts). */
  private accept(socket: Socket, server: NetServer): void {
    // Reads start on a later turn of the loop, once the connection below exists.
    const served: { conn?: Connection } = {};
    const moved = sharedReadSocket(socket, server, (n, buf) => (served.conn as Connection).readShared(n, buf));
    if (moved === undefined) {
      this.add(socket, false);
      socket.resume(); // a pauseOnConnect server's socket starts paused
      return;
    }
    served.conn = this.add(moved, true);
  }

  private add(socket: Socket, sharedReads: boolean): Connection {
    socket.setNoDelay(true);
    const conn = new Connection(socket, this.config, this.gone, sharedReads);
    this.live.add(conn);
    if (!this.sweep) {
      this.sweep = setInterval(() => this.check(), this.config.timeouts.checkMs);
      this.sweep.unref();
    }
    return conn;
  }

  shutdown(): void {
    for (const c of this.live) c.shutdown();
  }

  close(): void {
    if (this.sweep) { clearInterval(this.sweep); this.sweep = null; }
    for (const c of this.live) c.socket.destroy();
  }

  bufferedBytes(): number {
    let n = 0;
    for (const c of this.live) n += c.bufferedBytes;
    return n;
  }

  private check(): void {
    const now = Date.now();
    for (const c of this.live) {
      if (c.deadline !== 0 && c.deadline <= now) c.expire();
    }
  }
}

export function createHttpEngine(opts: HttpEngineOptions): HttpEngine {
  return new Engine(engineConfig(opts));
}
