/**
 * createHttpEngine: Meridian's HTTP/1.1 server engine on node:net / node:tls sockets. It knows
 * nothing of routes or plugins: it parses requests strictly, runs them one at a time per
 * connection, writes responses, enforces limits and deadlines, and hands upgrades over.
 */
import type { Server as NetServer, Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import { Connection } from './connection.js';
import { engineConfig, type EngineConfig, type HttpEngineOptions } from './engine-config.js';

export interface HttpEngine {
  /** Serves one connected socket (a net.Socket, or a TLSSocket after its handshake). */
  serve(socket: Socket): void;
  /**
   * Serves every connection of a server: 'secureConnection' of a tls.Server, 'connection' of a
   * net.Server. Create the server with `allowHalfOpen: true` so a client's half-close does not
   * cut a response in progress.
   */
  attach(server: NetServer | TlsServer): void;
  /** Connections being served. */
  readonly connections: number;
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

  serve(socket: Socket): void {
    socket.setNoDelay(true);
    this.live.add(new Connection(socket, this.config, this.gone));
    if (!this.sweep) {
      this.sweep = setInterval(() => this.check(), this.config.timeouts.checkMs);
      this.sweep.unref();
    }
  }

  attach(server: NetServer | TlsServer): void {
    const event = 'addContext' in server ? 'secureConnection' : 'connection';
    server.on(event, (socket: Socket) => this.serve(socket));
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
