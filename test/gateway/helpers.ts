import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { validate } from '../../src/core/validate.js';
import { GatewayProgramConfig } from '../../src/gateway/config.js';
import { GatewayWorker } from '../../src/gateway/worker.js';
import { discoveryHooks } from '../../src/gateway/discovery-hooks.js';
import { RuntimeBuilder } from '../../src/gateway/build.js';
import { builtinRegistry, type PluginRegistry } from '../../src/plugins/index.js';
import type { FromWorker } from '../../src/gateway/ipc.js';
import { freePort } from '../harness/index.js';

export interface Upstream {
  port: number;
  server: Server;
  hits: number;
  close(): Promise<void>;
}

/** A real node:http upstream on loopback; the default handler echoes method, url and headers. */
export async function startUpstream(handler?: (req: IncomingMessage, res: ServerResponse) => void, port = 0): Promise<Upstream> {
  const u: Upstream = {
    port: 0,
    hits: 0,
    server: createServer((req, res) => {
      u.hits++;
      if (handler) return handler(req, res);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.stringify({ port: u.port, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream-port': String(u.port), 'keep-alive': 'timeout=5', 'x-custom-hop': 'drop-me', connection: 'x-custom-hop' });
        res.end(body);
      });
    }),
    close: () => new Promise((r) => {
      u.server.closeAllConnections();
      u.server.close(() => r());
    }),
  };
  await new Promise<void>((r) => u.server.listen({ host: '127.0.0.1', port }, () => r()));
  u.port = (u.server.address() as AddressInfo).port;
  return u;
}

export interface TestGateway {
  worker: GatewayWorker;
  port: number;
  url: string;
  sent: FromWorker[];
  apply(config: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

/** A gateway worker in this process (same code as a cluster worker, without the IPC). */
export async function startGateway(config: Record<string, unknown>, program: Record<string, unknown> = {}, registry: PluginRegistry = builtinRegistry(), withDiscovery = false): Promise<TestGateway> {
  const port = await freePort();
  const listen = (program.listen as Record<string, unknown> | undefined) ?? {};
  const pc = validate(GatewayProgramConfig, { node: { name: 't', region: 'r1' }, ...program, listen: { http: `127.0.0.1:${port}`, ...listen } });
  const sent: FromWorker[] = [];
  const worker = new GatewayWorker({ config: pc, send: (m) => sent.push(m), log: pino({ level: 'silent' }), registry, ...(withDiscovery ? { discovery: discoveryHooks(pc) } : {}) });
  await worker.start();
  const apply = async (c: Record<string, unknown>): Promise<void> => {
    const checked = RuntimeBuilder.dryRun(c, registry, 'r1');
    await worker.applyConfig(checked.config);
  };
  await apply(config);
  return { worker, port, url: `http://127.0.0.1:${port}`, sent, apply, stop: () => worker.stop(1_000) };
}

export interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
  json<T = Record<string, unknown>>(): T;
}

/** One request on a fresh connection (agent: false), so tests see exactly what they send. */
export function send(url: string, options: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer; path?: string; timeoutMs?: number } = {}): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path: options.path ?? `${u.pathname}${u.search}`, method: options.method ?? 'GET', headers: options.headers, agent: false, timeout: options.timeoutMs ?? 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T,>() => JSON.parse(body) as T });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(options.body);
  });
}

export const upstreamOf = (...ports: number[]) => ({ id: 'u1', nodes: ports.map((port) => ({ host: '127.0.0.1', port })) });

/** An upgrade the gateway refuses: its status and body (a test fails if the upgrade is accepted). */
export function wsRefusal(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('error', reject);
  });
}
