import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll } from 'vitest';
import { eventually, useServers } from '../harness/index.js';
import { MERIDIAN } from '../harness/cli.js';
import { PROJECT_ROOT } from '../../src/core/servers/binaries.js';
import { EtcdStore, type StoreLease } from '../../src/core/etcd-store.js';
import { regionalKeys, type NodeRegistration } from '../../src/core/keys.js';
import { createLogger } from '../../src/core/logger.js';
import { ControllerProgramConfig } from '../../controller/config.js';
import { Controller } from '../../controller/controller.js';
import { sha256Hex } from '../../controller/api/auth.js';

export const TOKENS = { read: 'tok-read', write: 'tok-write', admin: 'tok-admin' } as const;
export const GATEWAY_TOKEN = 'gw-admin-secret';

export function controllerConfig(centralEndpoint: string, extra: Record<string, unknown> = {}): ControllerProgramConfig {
  const raw = {
    listen: '127.0.0.1:0',
    etcd: { endpoints: [centralEndpoint], prefix: '/meridian' },
    tokens: (Object.keys(TOKENS) as Array<keyof typeof TOKENS>).map((role) => ({ name: `${role}-user`, sha256: sha256Hex(TOKENS[role]), role })),
    gateway_admin_token: GATEWAY_TOKEN,
    leader: { ttl_s: 2 },
    reconcile: { backoff_min_ms: 100, backoff_max_ms: 500, region_timeout_ms: 1000 },
    purge: { deadline_ms: 1000, consul_wait_s: 2, min_interval_ms: 50 },
    deploy: { check_interval_ms: 200 },
    ...extra,
  };
  const value = Value.Default(ControllerProgramConfig, raw);
  if (!Value.Check(ControllerProgramConfig, value)) throw new Error(`bad test config: ${JSON.stringify([...Value.Errors(ControllerProgramConfig, value)][0])}`);
  return value as ControllerProgramConfig;
}

export async function startController(centralEndpoint: string, extra: Record<string, unknown> = {}): Promise<Controller> {
  const c = new Controller(controllerConfig(centralEndpoint, extra), createLogger('controller-test', { level: process.env.MERIDIAN_LOG_LEVEL ?? 'silent' }));
  await c.start();
  return c;
}

/** The controller a test file shares: its API's base URL and the program itself. */
export interface FileController {
  readonly ctl: Controller;
  readonly base: string;
}

/**
 * A controller on a real etcd for the calling file's tests: started before them and stopped
 * after. With `upstream`, upstream `u` (one node) is stored first, for routes to point at.
 */
export function controllerForFile(opts: { upstream?: boolean } = {}): FileController {
  const state: { ctl?: Controller; base?: string } = {};
  beforeAll(async () => {
    const etcd = await (await useServers()).etcd();
    state.ctl = await startController(etcd.endpoint);
    state.base = state.ctl.url;
    if (opts.upstream) await call(state.base, 'PUT', '/v1/upstreams/u', { body: { nodes: [{ host: '127.0.0.1', port: 9 }] } });
  });
  afterAll(async () => {
    await state.ctl?.stop();
  });
  return {
    get ctl() { return state.ctl as Controller; },
    get base() { return state.base as string; },
  };
}

export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** One admin API call with a role's token (or none). */
export async function call<T = Record<string, unknown>>(base: string, method: string, path: string, opts: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {}): Promise<ApiAnswer<T>> {
  const token = opts.token === undefined ? TOKENS.admin : opts.token;
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(opts.headers ?? {}) },
    ...(opts.body !== undefined ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T, headers: res.headers };
}

export interface PurgeCall {
  body: { service: string; datacenter?: string; instance?: string };
  auth: string | undefined;
  at: number;
}

/**
 * A stand-in for a gateway node's admin listener (the gateway itself is not built yet): it
 * implements exactly the purge contract (POST /admin/discovery/purge, bearer token, answer
 * {workers, applied, took_ms} once "all workers" applied it) and GET /metrics, and registers
 * itself in its region's real etcd under a lease, as a gateway does.
 */
export class FakeGatewayNode {
  readonly purges: PurgeCall[] = [];
  /** Counters served at /metrics: "route|upstream|code" -> count. */
  readonly counters = new Map<string, number>();
  mode: 'ack' | 'silent' | 'partial' = 'ack';
  private server: Server | undefined;
  private lease: StoreLease | undefined;
  private store: EtcdStore | undefined;
  admin = '';

  constructor(readonly region: string, readonly cluster: string, readonly name: string, readonly host = '127.0.0.1') {}

  async start(regionalEtcd: string, configRevision = 0): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'GET' && req.url === '/metrics') {
          const lines = [...this.counters].map(([k, v]) => {
            const [route, upstream, code] = k.split('|');
            return `meridian_http_requests_total{route="${route}",upstream="${upstream}",code="${code}"} ${v}`;
          });
          res.writeHead(200, { 'content-type': 'text/plain' }).end(`# TYPE meridian_http_requests_total counter\n${lines.join('\n')}\n`);
          return;
        }
        if (req.method === 'POST' && req.url === '/admin/discovery/purge') {
          if (req.headers.authorization !== `Bearer ${GATEWAY_TOKEN}`) return void res.writeHead(401).end();
          this.purges.push({ body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as PurgeCall['body'], auth: req.headers.authorization, at: Date.now() });
          if (this.mode === 'silent') return; // never answers: the controller's deadline must cut it off
          const applied = this.mode === 'partial' ? 1 : 2;
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ workers: 2, applied, took_ms: 1 }));
          return;
        }
        res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => (this.server as Server).listen(0, this.host, () => r()));
    const port = (this.server.address() as AddressInfo).port;
    this.admin = `http://${this.host}:${port}`;
    this.store = new EtcdStore({ endpoints: [regionalEtcd] });
    this.lease = await this.store.lease(2);
    await this.register(configRevision);
  }

  async register(configRevision: number): Promise<void> {
    const reg: NodeRegistration = { name: this.name, cluster: this.cluster, region: this.region, address: `${this.host}:80`, admin: this.admin, version: 'fake', config_revision: configRevision, started_at: new Date().toISOString() };
    await this.lease?.put(regionalKeys.node(this.cluster, this.name), reg);
  }

  async stop(): Promise<void> {
    await this.lease?.revoke().catch(() => undefined);
    await this.store?.stop();
    const s = this.server;
    if (s) await new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections();
    });
  }
}

/** eventually() for conditions that hand back what they found (false/undefined while waiting). */
export async function waitFor<T>(fn: () => Promise<T | false | undefined | null>, timeoutMs = 10_000): Promise<T> {
  return (await eventually(fn, timeoutMs)) as T;
}

export interface CtlRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `meridian ctl ...` as a real process against `server` (async: the controller may run in this process). */
export function runCtl(server: string, args: string[], opts: { token?: string | null; stdin?: string } = {}): Promise<CtlRun> {
  const token = opts.token === undefined ? TOKENS.admin : opts.token;
  return new Promise((resolve) => {
    const env = { ...process.env, MERIDIAN_CTL_SERVER: server, MERIDIAN_CTL_TOKEN: token ?? '' };
    const child = spawn(process.execPath, [...MERIDIAN, 'ctl', ...args], { cwd: PROJECT_ROOT, env, stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
  });
}
