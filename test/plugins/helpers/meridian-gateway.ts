import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request, type Agent } from 'undici';
import { eventually, freePort } from '../../harness/index.js';
import { spawnMeridian } from '../../harness/cli.js';

export interface PluginGateway {
  /** http://127.0.0.1:<port> of the data-plane listener. */
  url: string;
  /** http://[::1]:<port> of a second data-plane listener, when asked for (`ipv6`). */
  url6: string | undefined;
  /** http://127.0.0.1:<port> of the admin listener (/status, /metrics). */
  admin: string;
  /** Everything the process printed, for failure messages. */
  output: () => string;
  stop(): Promise<void>;
}

/**
 * `meridian gateway` as an operator starts it: one worker, the standalone route file (default
 * `<dir>/routes.yaml`, written by the caller, watched by the gateway; several gateways may
 * watch one file), the region Redis if given, a listener on ::1 too with `ipv6`. Resolves once `ready(url)` is true (default:
 * the worker serves a revision of the route file).
 */
export async function startPluginGateway(opts: { dir: string; name: string; redisUrl?: string; routesFile?: string; ipv6?: boolean; ready?: (url: string) => Promise<boolean> }): Promise<PluginGateway> {
  const port = await freePort();
  const adminPort = await freePort();
  const port6 = opts.ipv6 ? await freePort('::1') : undefined;
  const url = `http://127.0.0.1:${port}`;
  const admin = `http://127.0.0.1:${adminPort}`;
  const file = join(opts.dir, `gateway-${opts.name}.yaml`);
  writeFileSync(file, JSON.stringify({
    node: { name: opts.name, region: 'r1' },
    listen: { http: port6 === undefined ? `127.0.0.1:${port}` : [`127.0.0.1:${port}`, `[::1]:${port6}`] },
    admin: { listen: `127.0.0.1:${adminPort}` },
    workers: 1,
    // Longer than any pause in a test (a loaded machine can take seconds between two requests):
    // a client must never reuse a connection the gateway is closing as idle at that moment.
    limits: { keepalive_timeout_ms: 60_000 },
    ...(opts.redisUrl ? { redis: opts.redisUrl } : {}),
    config: { source: 'file', file: opts.routesFile ?? join(opts.dir, 'routes.yaml'), snapshot_file: join(opts.dir, `snap-${opts.name}.json`), debounce_ms: 20 },
    drain: { grace_ms: 0, timeout_ms: 1_000 },
  }));
  const gw = spawnMeridian(['gateway', '-c', file], { MERIDIAN_LOG_LEVEL: 'warn' });
  const stop = async (): Promise<void> => {
    if (gw.exitCode !== null || gw.signalCode !== null) return;
    const exited = new Promise((r) => gw.once('exit', r));
    gw.kill('SIGTERM');
    await exited;
  };
  const ready = opts.ready ?? (async () => (await gatewayStatus(admin)).workers.some((w) => w.revision !== undefined));
  try {
    await eventually(async () => {
      try {
        return await ready(url);
      } catch {
        return false; // not listening yet
      }
    }, 40_000, 100);
  } catch (err) {
    await stop();
    throw new Error(`gateway did not start: ${(err as Error).message}\n${gw.output()}`, { cause: err });
  }
  return { url, url6: port6 === undefined ? undefined : `http://[::1]:${port6}`, admin, output: gw.output, stop };
}

interface GatewayStatus {
  config: { revision?: number; last_rejection?: { reason: string; revision?: number } };
  workers: Array<{ revision?: number }>;
}

async function gatewayStatus(admin: string): Promise<GatewayStatus> {
  return (await (await fetch(`${admin}/status`)).json()) as GatewayStatus;
}

/** The sum of the samples of metric `name` on the gateway's /metrics whose labels include `labels`. */
export async function gatewayMetric(gw: PluginGateway, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${gw.admin}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = line.slice(name.length, line.lastIndexOf(' '));
    if (wanted.every((w) => labelText.includes(w))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** The Host a route of a {@link DataPlane} answers on. */
export const hostOf = (routeId: string): string => `${routeId}.test`;

/**
 * The data plane of a test file, written to the route file its gateways watch: one route per
 * `route(id, …)`, answering on Host `<id>.test` at any path (so paths reach the plugins and
 * the upstream unchanged), with its own upstream `up-<id>`. Every `apply` bumps `revision` and
 * waits until each gateway's worker serves it.
 */
export class DataPlane {
  consumers: unknown[] = [];
  private revision = 0;
  private readonly routes = new Map<string, Record<string, unknown>>();
  private readonly upstreams = new Map<string, Record<string, unknown>>();

  constructor(readonly file: string, private readonly gateways: () => PluginGateway[]) {}

  /** Adds (or replaces) route `id` with `plugins`, proxying to `upstreamUrl`; `extra` goes into the route. */
  route(id: string, plugins: Record<string, unknown>, upstreamUrl: string, extra: Record<string, unknown> = {}): this {
    const u = new URL(upstreamUrl);
    this.upstreams.set(id, { id: `up-${id}`, nodes: [{ host: u.hostname, port: Number(u.port) }] });
    this.routes.set(id, { id, hosts: [hostOf(id)], paths: ['/*'], upstream_id: `up-${id}`, plugins, ...extra });
    return this;
  }

  /** Writes the next revision (a rename: a reader never sees half a file) without waiting. */
  write(): number {
    const revision = ++this.revision;
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ revision, consumers: this.consumers, upstreams: [...this.upstreams.values()], routes: [...this.routes.values()] }));
    renameSync(tmp, this.file);
    return revision;
  }

  /** Writes the next revision and resolves once every gateway serves it; a refused config throws its reason. */
  async apply(): Promise<void> {
    const revision = this.write();
    await Promise.all(this.gateways().map((gw) => eventually(async () => {
      const s = await gatewayStatus(gw.admin);
      if (s.config.last_rejection?.revision === revision) throw new Error(`config ${revision} refused: ${s.config.last_rejection.reason}`);
      return s.workers.length > 0 && s.workers.every((w) => (w.revision ?? 0) >= revision);
    }, 20_000, 20).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${gw.output().slice(-2_000)}`, { cause: err });
    })));
  }
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request to route `routeId` of a {@link DataPlane} through `gw`; `dispatcher` e.g. to pick the client address. */
export async function callRoute(gw: PluginGateway, routeId: string, opts: { path?: string; method?: string; headers?: Record<string, string>; body?: string | AsyncIterable<Buffer>; dispatcher?: Agent; ipv6?: boolean } = {}): Promise<Answer> {
  const r = await request(`${opts.ipv6 ? gw.url6 : gw.url}${opts.path ?? '/'}`, {
    method: (opts.method ?? 'GET') as 'GET',
    headers: { host: hostOf(routeId), ...opts.headers },
    body: opts.body as string | undefined,
    ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
  });
  return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
}
