import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from 'find-my-way';
import { MeridianError, isMeridianError } from '../../src/core/errors/index.js';
import type { Logger } from '../../src/core/logger.js';
import { JSON_MAX_DEPTH, jsonTooDeep } from '../../src/core/json-depth.js';
import { RESOURCE_KEY_MAX_LENGTH } from '../../src/core/model/index.js';
import type { Role } from '../config.js';
import { TokenAuth, type Principal } from './auth.js';
import { CONSOLE_PREFIX, ConsoleFiles } from './console-files.js';

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface Request {
  method: Method;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** Who called (an anonymous read principal on public endpoints). */
  principal: Principal;
  /** Parsed JSON body (undefined when empty). */
  body: unknown;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Raw text instead of JSON (metrics). */
  text?: string;
  /**
   * A long operation that reports as it goes: answered 200 `application/x-ndjson`, a line
   * `{"progress": event}` per `emit`, then `{"status", "body"}` of the Reply it resolves to.
   */
  progress?: (emit: (event: unknown) => void) => Promise<Reply>;
}

/** The client asked for progress lines (`Accept: application/x-ndjson`). */
export function wantsProgress(req: Request): boolean {
  return String(req.headers.accept ?? '').includes(NDJSON);
}

const NDJSON = 'application/x-ndjson';

export type Handler = (req: Request) => Promise<Reply>;

/** One served route as registered: method, find-my-way path (`:param`), role (null: public), summary. */
export interface RouteEntry {
  method: Method;
  path: string;
  role: Role | null;
  action: string;
}

interface Endpoint {
  /** Role needed; null: no token needed. */
  role: Role | null;
  action: string;
  handler: Handler;
}

/** Rejects bodies above `limit` bytes; empty body is undefined. */
async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_BODY_TOO_LARGE', { limit });
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  // Before anything recursive (JSON.parse, schema checks, clones) sees it.
  if (jsonTooDeep(text)) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_JSON_TOO_DEEP', { limit: JSON_MAX_DEPTH });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MeridianError('MERIDIAN_ERR_CONTROLLER_BAD_JSON', { reason: (err as Error).message });
  }
}

/**
 * The admin HTTP server: find-my-way routes, bearer-token roles checked before any handler
 * runs, JSON in and out, every failure answered as {code, message} with the catalogue status.
 */
export class ApiServer {
  // Resource ids are URL parameters: the longest the schemas allow must be reachable.
  private readonly router = Router({ ignoreTrailingSlash: true, maxParamLength: RESOURCE_KEY_MAX_LENGTH });
  private server: Server | undefined;
  private readonly table: RouteEntry[] = [];
  private console: ConsoleFiles | undefined;

  constructor(private readonly auth: TokenAuth, private readonly log: Logger, private readonly maxBody: number, private readonly onRequest: (method: string, route: string, status: number) => void = () => undefined) {}

  on(method: Method, path: string, role: Role | null, action: string, handler: Handler): void {
    const endpoint: Endpoint = { role, action, handler };
    this.router.on(method, path, () => undefined, endpoint);
    this.table.push({ method, path, role, action });
  }

  /** Serves the built web console at /ui/ (static files, outside the route table and the OpenAPI document). */
  serveConsole(files: ConsoleFiles): void {
    this.console = files;
  }

  /** Every registered route, in registration order: what the OpenAPI document is generated from. */
  routes(): readonly RouteEntry[] {
    return this.table;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://controller');
    const method = (req.method ?? 'GET') as Method;
    const found = this.router.find(method, url.pathname);
    let reply: Reply;
    let route = 'none';
    try {
      const read = req.method === 'GET' || req.method === 'HEAD';
      if (this.console && read && (url.pathname === CONSOLE_PREFIX || url.pathname.startsWith(`${CONSOLE_PREFIX}/`))) {
        route = 'console';
        const answer = await this.console.answer(url.pathname);
        this.onRequest(method, route, answer.status);
        ConsoleFiles.send(req, res, answer);
        return;
      }
      if (!found) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_NO_ENDPOINT', { method, path: url.pathname });
      const endpoint = found.store as Endpoint;
      route = endpoint.action;
      let principal: Principal = { name: 'anonymous', role: 'read' };
      if (endpoint.role !== null) {
        principal = this.auth.authenticate(req.headers.authorization);
        TokenAuth.require(principal, endpoint.role, endpoint.action);
      }
      const body = method === 'GET' || method === 'DELETE' ? undefined : await readJson(req, this.maxBody);
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(found.params)) if (v !== undefined) params[k] = v;
      reply = await endpoint.handler({ method, path: url.pathname, params, query: url.searchParams, headers: req.headers, principal, body });
    } catch (err) {
      reply = errorReply(err, this.log);
    }
    if (reply.progress) return this.progress(reply.progress, res, (status) => this.onRequest(method, route, status));
    this.onRequest(method, route, reply.status);
    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    let payload = '';
    if (reply.text !== undefined) {
      payload = reply.text;
      headers['content-type'] ??= 'text/plain; version=0.0.4';
    } else if (reply.body !== undefined) {
      payload = JSON.stringify(reply.body);
      headers['content-type'] = 'application/json';
    }
    res.writeHead(reply.status, { ...headers, 'content-length': Buffer.byteLength(payload) });
    res.end(payload);
  }

  private async progress(run: NonNullable<Reply['progress']>, res: ServerResponse, done: (status: number) => void): Promise<void> {
    res.writeHead(200, { 'content-type': NDJSON, 'cache-control': 'no-store' });
    // A handful of lines (one per stage and gateway node): no backpressure needed.
    const line = (v: unknown) => res.write(`${JSON.stringify(v)}\n`);
    let final: Reply;
    try {
      final = await run((event) => line({ progress: event }));
    } catch (err) {
      final = errorReply(err, this.log);
    }
    done(final.status);
    line({ status: final.status, body: final.body ?? {} });
    res.end();
  }

  async listen(hostPort: string): Promise<{ host: string; port: number }> {
    const i = hostPort.lastIndexOf(':');
    const host = hostPort.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(hostPort.slice(i + 1));
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'request failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    server.keepAliveTimeout = 5_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}

export function errorReply(err: unknown, log: Logger): Reply {
  if (isMeridianError(err)) return { status: err.status, body: err.toJSON() };
  log.error({ err }, 'unexpected error');
  return { status: 500, body: new MeridianError('MERIDIAN_ERR_CONTROLLER_INTERNAL', { reason: (err as Error).message }).toJSON() };
}
