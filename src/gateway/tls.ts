import { createSecureContext, type SecureContext } from 'node:tls';
import type { Ssl } from '../core/model/index.js';

/** The PEM pair served by default on a port to clients that send no SNI. */
export interface DefaultCert {
  readonly id: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * Certificates of one config generation, by server name: exact names, then `*.suffix`
 * wildcards (one label, as browsers match them), plus a default per HTTPS port for clients
 * without SNI. Secure contexts are cached by ssl id + content across generations, so a
 * route change never re-parses certificates.
 */
export class TlsTable {
  private readonly exact = new Map<string, SecureContext>();
  private readonly wildcard = new Map<string, SecureContext>();
  private readonly defaults = new Map<number, DefaultCert>();
  readonly size: number;

  constructor(ssl: readonly Ssl[], cache: Map<string, SecureContext> = new Map()) {
    const used = new Set<string>();
    for (const s of ssl) {
      const cacheKey = `${s.id}\n${s.cert}\n${s.key}`;
      used.add(cacheKey);
      let ctx = cache.get(cacheKey);
      if (!ctx) {
        try {
          ctx = createSecureContext({ cert: s.cert, key: s.key });
        } catch (err) {
          throw new Error(`ssl ${s.id}: ${(err as Error).message}`, { cause: err });
        }
        cache.set(cacheKey, ctx);
      }
      for (const sni of s.snis) {
        const name = sni.toLowerCase().replace(/\.$/, '');
        if (name.startsWith('*.')) this.wildcard.set(name.slice(2), ctx);
        else this.exact.set(name, ctx);
      }
      for (const port of s.default_for_ports ?? []) this.defaults.set(port, { id: s.id, cert: s.cert, key: s.key });
    }
    for (const k of cache.keys()) if (!used.has(k)) cache.delete(k);
    this.size = ssl.length;
  }

  /** The context for a client's SNI, or undefined (then the port's default is served). */
  lookup(servername: string): SecureContext | undefined {
    const name = servername.toLowerCase();
    const exact = this.exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    return dot === -1 ? undefined : this.wildcard.get(name.slice(dot + 1));
  }

  defaultFor(port: number): DefaultCert | undefined {
    return this.defaults.get(port);
  }
}
