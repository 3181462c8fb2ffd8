import { Pool } from 'undici';

export interface PoolSettings {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  connections: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** TLS server name for https upstreams. */
  servername: string | undefined;
}

interface Held {
  pool: Pool;
  refs: number;
}

/**
 * undici Pools, one per upstream node and settings, shared by every config generation that
 * uses them (reference counted): a route change reuses warm keep-alive connections, and a
 * node that leaves has its pool closed once nothing holds it (in-flight requests finish first).
 */
export class PoolManager {
  private readonly pools = new Map<string, Held>();

  static keyOf(s: PoolSettings): string {
    return `${s.scheme}://${s.host}:${s.port}|${s.connections}|${s.idleTimeoutMs}|${s.connectTimeoutMs}|${s.servername ?? ''}`;
  }

  acquire(s: PoolSettings): { key: string; pool: Pool } {
    const key = PoolManager.keyOf(s);
    let held = this.pools.get(key);
    if (!held) {
      const origin = `${s.scheme}://${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`;
      const pool = new Pool(origin, {
        connections: s.connections,
        pipelining: 1,
        keepAliveTimeout: s.idleTimeoutMs,
        keepAliveMaxTimeout: s.idleTimeoutMs,
        connect: { timeout: s.connectTimeoutMs, ...(s.servername ? { servername: s.servername } : {}) },
        // Timeouts are set per request from the route/upstream config.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      held = { pool, refs: 0 };
      this.pools.set(key, held);
    }
    held.refs++;
    return { key, pool: held.pool };
  }

  release(key: string): void {
    const held = this.pools.get(key);
    if (!held) return;
    if (--held.refs > 0) return;
    this.pools.delete(key);
    // Graceful: queued and running requests complete, idle sockets close.
    held.pool.close().catch(() => undefined);
  }

  get size(): number {
    return this.pools.size;
  }

  async closeAll(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((h) => h.pool.close().catch(() => undefined)));
  }
}
