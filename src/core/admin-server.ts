/**
 * The admin listener of the DNS server and the prober: /metrics (Prometheus), /healthz (ready
 * to answer), /status (state detail).
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Lifecycle } from './lifecycle.js';

export interface AdminHandlers {
  registry: Registry;
  /** 200 when ready, else 503; the body says why. */
  health(): { ok: boolean; detail: Record<string, unknown> };
  status(): unknown;
}

/** `host:port` or `[v6]:port` to its parts. */
export function splitHostPort(hostPort: string): { host: string; port: number } {
  const i = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(i + 1)) };
}

export class AdminServer implements Lifecycle {
  private server: Server | undefined;

  constructor(private readonly listen: string, private readonly handlers: AdminHandlers) {}

  /** Port actually bound (useful with port 0). */
  port(): number {
    const a = this.server?.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async start(): Promise<void> {
    const { host, port } = splitHostPort(this.listen);
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (path === '/metrics') {
        this.handlers.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': this.handlers.registry.contentType });
            res.end(text);
          },
          (err: Error) => json(500, { error: err.message }),
        );
      } else if (path === '/healthz') {
        const h = this.handlers.health();
        json(h.ok ? 200 : 503, { status: h.ok ? 'ok' : 'unavailable', ...h.detail });
      } else if (path === '/status') {
        json(200, this.handlers.status());
      } else {
        json(404, { error: 'not found' });
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => resolve());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
