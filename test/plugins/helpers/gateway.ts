import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { request as undiciRequest } from 'undici';
import type { Consumer, Route } from '../../../src/core/model/index.js';
import type { CompiledChain, PluginLayers, PluginRegistry, RequestContext, ShortCircuit } from '../../../src/plugins/index.js';
import { sendShortCircuit } from '../../../src/proxy/exchange.js';

/**
 * A stand-in for the gateway while it is being built: routes every request to one route,
 * runs the compiled chain over a real node:http request/response, proxies with undici and
 * honours the context hooks of contract.ts the way the gateway is asked to.
 */
export interface MiniGateway {
  url: string;
  port: number;
  server: Server;
  /** The last context seen (assertions on upstream headers, vars). */
  last: () => RequestContext | undefined;
  close(): Promise<void>;
}

export interface MiniGatewayOptions {
  registry: PluginRegistry;
  route: Route;
  layers?: Omit<PluginLayers, 'route'>;
  upstreamUrl?: string;
  upstreamId?: string;
  /** Client IP the plugins see (default: the socket's). */
  clientIp?: (req: IncomingMessage) => string;
  onLogError?: (name: string, err: unknown) => void;
}

const HOP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'te', 'upgrade']);

/** Short-circuit answers go out exactly as the gateway sends them. */
function send(res: ServerResponse, ctx: RequestContext, stop: ShortCircuit): void {
  sendShortCircuit(res, ctx, stop, false);
}

export async function miniGateway(opts: MiniGatewayOptions): Promise<MiniGateway> {
  const chain: CompiledChain = opts.registry.compile({ ...opts.layers, route: opts.route.plugins }, `route ${opts.route.id}`);
  let last: RequestContext | undefined;
  const server = createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const ctx: RequestContext = {
      req,
      res,
      requestId: randomUUID(),
      clientIp: opts.clientIp ? opts.clientIp(req) : (req.socket.remoteAddress ?? ''),
      path,
      route: opts.route,
      upstreamId: opts.upstreamId,
      consumer: undefined as Consumer | undefined,
      upstreamHeaders: {},
      responseHeaders: {},
      upstreamPath: path,
      upstreamStatus: undefined,
      status: undefined,
      vars: new Map(),
      startedAt: performance.now(),
    };
    last = ctx;
    let run = chain;
    try {
      const { chain: c, stop } = await chain.request(ctx);
      run = c;
      if (stop) {
        await run.headerFilter(ctx);
        ctx.status = stop.status;
        send(res, ctx, stop);
      } else if (!opts.upstreamUrl) {
        ctx.upstreamStatus = 200;
        await run.headerFilter(ctx);
        ctx.status = 200;
        send(res, ctx, { status: 200, body: { ok: true, upstreamHeaders: ctx.upstreamHeaders, path: ctx.upstreamPath } });
      } else {
        await proxy(ctx, run, q < 0 ? '' : url.slice(q));
      }
    } catch (err) {
      ctx.status = 500;
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'TEST_GATEWAY_ERROR', message: String(err) }));
    }
    // The log phase once, after the response is over (sent, or the client went away).
    let logged = false;
    const logOnce = () => {
      if (logged) return;
      logged = true;
      run.log(ctx, opts.onLogError ?? (() => undefined));
    };
    if (res.writableFinished) logOnce();
    else res.once('close', logOnce);
  }

  async function proxy(ctx: RequestContext, run: CompiledChain, query: string): Promise<void> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(ctx.req.headers)) if (typeof v === 'string' && !HOP.has(k)) headers[k] = v;
    for (const [k, v] of Object.entries(ctx.upstreamHeaders)) {
      const lk = k.toLowerCase();
      if (v === null) delete headers[lk];
      else headers[lk] = v;
    }
    const hasBody = ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD';
    let tooLarge = false;
    // ctx.maxRequestBody: count a streamed body and stop it at the limit (chunked bodies).
    async function* limited(limit: number): AsyncGenerator<Buffer> {
      let n = 0;
      for await (const c of ctx.req) {
        n += (c as Buffer).length;
        if (n > limit) {
          tooLarge = true;
          throw new Error('request body too large');
        }
        yield c as Buffer;
      }
    }
    const body = !hasBody ? undefined : ctx.requestBody ?? (ctx.maxRequestBody !== undefined ? Readable.from(limited(ctx.maxRequestBody)) : (ctx.req as IncomingMessage));
    let up;
    try {
      up = await undiciRequest(`${opts.upstreamUrl}${ctx.upstreamPath}${query}`, {
        method: (ctx.req.method ?? 'GET') as 'GET',
        headers,
        body,
        headersTimeout: 2_000,
        bodyTimeout: 2_000,
      });
    } catch (err) {
      if (tooLarge) {
        ctx.status = 413;
        send(ctx.res as ServerResponse, ctx, { status: 413, body: { code: 'MERIDIAN_ERR_PLUGIN_BODY_TOO_LARGE', message: `request body larger than ${String(ctx.maxRequestBody)} bytes` } });
        return;
      }
      ctx.upstreamError = (err as Error).message;
    }
    if (!up || (up.statusCode >= 500 && ctx.upstreamFallback)) {
      const fallback = ctx.upstreamFallback?.(ctx);
      if (up && fallback) await up.body.dump();
      if (up) ctx.upstreamStatus = up.statusCode;
      const answer = fallback ?? { status: 502, body: { code: 'TEST_UPSTREAM_FAILED', message: ctx.upstreamError ?? 'upstream failed' } };
      if (!up || fallback) {
        await run.headerFilter(ctx);
        ctx.status = answer.status;
        send(ctx.res as ServerResponse, ctx, answer);
        return;
      }
    }
    ctx.upstreamStatus = up.statusCode;
    const replaced = await run.headerFilter(ctx);
    if (replaced) {
      await up.body.dump();
      ctx.status = replaced.status;
      send(ctx.res as ServerResponse, ctx, replaced);
      return;
    }
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && k !== 'connection' && k !== 'transfer-encoding' && k !== 'keep-alive') out[k] = v;
    for (const [k, v] of Object.entries(ctx.responseHeaders)) {
      if (v === null) delete out[k.toLowerCase()];
      else out[k.toLowerCase()] = v;
    }
    ctx.status = up.statusCode;
    ctx.res.writeHead(up.statusCode, out);
    const capture = ctx.captureBody;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of up.body) {
      const b = chunk as Buffer;
      if (capture && size <= capture.maxBytes) {
        size += b.length;
        chunks.push(b);
      }
      ctx.res.write(b);
    }
    ctx.res.end();
    if (capture && size <= capture.maxBytes) capture.done(Buffer.concat(chunks), up.headers as Record<string, string | string[]>);
  }

  // Longer than any pause in a test: a client must never reuse a socket the server just closed.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    last: () => last,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** A real upstream: echoes method, path and headers as JSON; status from ?status=. */
export async function echoUpstream(): Promise<{ url: string; hits: () => number; setStatus: (s: number) => void; close(): Promise<void> }> {
  let hits = 0;
  let status = 200;
  const server = createServer((req, res) => {
    hits++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), n: hits });
      res.writeHead(status, { 'content-type': 'application/json', 'x-upstream': 'echo' });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    setStatus: (s) => {
      status = s;
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

export function route(id: string, plugins: Record<string, unknown> = {}): Route {
  return { id, paths: ['/*'], priority: 0, enabled: true, plugins };
}

/** A bare request context for calling a chain directly (no HTTP). */
export function ctxFor(r = route('r1')): RequestContext {
  return {
    req: { headers: {}, method: 'GET', url: '/' } as RequestContext['req'],
    res: {} as RequestContext['res'],
    requestId: 'id',
    clientIp: '127.0.0.1',
    path: '/',
    route: r,
    upstreamId: 'u1',
    consumer: undefined,
    upstreamHeaders: {},
    responseHeaders: {},
    upstreamPath: '/',
    upstreamStatus: undefined,
    status: undefined,
    vars: new Map(),
    startedAt: performance.now(),
  };
}
