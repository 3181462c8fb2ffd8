import { Pool } from 'undici';
import { Http1Pool } from './http1/pool.js';
import { http1PoolOptions } from './http1/settings.js';

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

/**
 * The pool of one node: Meridian's own HTTP/1.1 client for plain-HTTP nodes (the hot path),
 * undici for HTTPS nodes (see src/upstream/README.md, "Which client a request takes").
 */
export type NodePool = Http1Pool | Pool;

interface Held {
  pool: NodePool;
  refs: number;
}

/** Send and read timeouts are given per request (route or upstream): the pool has no default. */
const PER_REQUEST = { send: 0, read: 0 } as const;

/**
 * Pools, one per upstream node and settings, shared by every config generation that uses them
 * (reference counted): a route change reuses warm keep-alive connections, and a node that
 * leaves has its pool closed once nothing holds it (in-flight requests finish first).
 */
export class PoolManager {
  private readonly pools = new Map<string, Held>();

  static keyOf(s: PoolSettings): string {
    return `${s.scheme}://${s.host}:${s.port}|${s.connections}|${s.idleTimeoutMs}|${s.connectTimeoutMs}|${s.servername ?? ''}`;
  }

  acquire(s: PoolSettings): { key: string; pool: NodePool } {
    const key = PoolManager.keyOf(s);
    let held = this.pools.get(key);
    if (!held) {
      held = { pool: s.scheme === 'http' ? new Http1Pool(http1PoolOptions(s, { connect: s.connectTimeoutMs, ...PER_REQUEST })) : undiciPool(s), refs: 0 };
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

function undiciPool(s: PoolSettings): Pool {
  const origin = `${s.scheme}://${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`;
  return new Pool(origin, {
    connections: s.connections,
    pipelining: 1,
    keepAliveTimeout: s.idleTimeoutMs,
    keepAliveMaxTimeout: s.idleTimeoutMs,
    connect: { timeout: s.connectTimeoutMs, ...(s.servername ? { servername: s.servername } : {}) },
    // Timeouts are set per request from the route/upstream config.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
}
