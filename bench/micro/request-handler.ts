/**
 * Micro-benchmark of the gateway's request handler (src/gateway/handler.ts: prepare, route,
 * the Exchange, finish) with an upstream pool that answers at once: ns of CPU per request on a
 * route without plugins and on one with prometheus, no sockets, no HTTP engine. What it
 * leaves out (the engine, the upstream client, the kernel) is most of a request's cost; what
 * it keeps is the part a change to the request lifecycle moves, measured far more steadily
 * than a whole gateway under wrk on a shared machine. Not part of `npm run bench`; run it
 * compiled, as the gateway runs: `npx tsc -p tsconfig.build.json && node
 * dist/bench/micro/request-handler.js [calls]` (under tsx, every closure a request makes is
 * named by a defineProperty call, which multiplies the figure). After two warm-up rounds,
 * the median of 9 rounds in CPU time (process.cpuUsage).
 */
import { pino } from 'pino';
import { RuntimeBuilder } from '../../src/gateway/build.js';
import { createRequestHandler, requestIdSource, type WorkerContext } from '../../src/gateway/handler.js';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import { builtinRegistry, type GatewayRequest, type GatewayResponse } from '../../src/plugins/index.js';
import { Http1Pool, type Http1Exchange, type Http1Handler, type Http1Request } from '../../src/upstream/http1/index.js';
import { PoolManager, type NodePool, type PoolSettings } from '../../src/upstream/pools.js';

const RESPONSE = ['Content-Type', 'text/plain', 'Content-Length', '12', 'Date', 'Thu, 03 Dec 2026 12:00:00 GMT'];
const BODY = Buffer.from('hello world\n');
const CALL: Http1Exchange = { resume: () => undefined, abort: () => undefined };

/** An Http1Pool (the exchange's plain-HTTP path) that answers every request at once. */
class AnsweringPool extends Http1Pool {
  override request(_req: Http1Request, handler: Http1Handler): Http1Exchange {
    handler.onResponse(200, RESPONSE.slice(), CALL);
    handler.onData(BODY);
    handler.onEnd(null);
    return CALL;
  }
}

class AnsweringPools extends PoolManager {
  private readonly pool = new AnsweringPool({ host: '127.0.0.1', port: 9 });
  override acquire(s: PoolSettings): { key: string; pool: NodePool } {
    return { key: PoolManager.keyOf(s), pool: this.pool };
  }
}

const calls = Number(process.argv[2] ?? 200_000);
const log = pino({ level: 'silent' });
const registry = builtinRegistry();
await registry.init({ redisUrl: undefined, log, consumers: () => [] });
const metrics = new GatewayMetrics();
const builder = new RuntimeBuilder({ registry, pools: new AnsweringPools(), metrics, region: 'bench' });
const runtime = builder.build(RuntimeBuilder.dryRun({
  revision: 1,
  upstreams: [{ id: 'up', nodes: [{ host: '127.0.0.1', port: 9 }] }],
  routes: [
    { id: 'api', paths: ['/api/*'], upstream_id: 'up', strip_prefix: '/api' },
    { id: 'prom', paths: ['/prom/*'], upstream_id: 'up', strip_prefix: '/prom', plugins: { prometheus: {} } },
  ],
}, registry, 'bench'), undefined);
const worker: WorkerContext = {
  runtime,
  draining: false,
  maxHeaders: 100,
  metrics,
  unrouted: metrics.noRoute,
  log,
  nextRequestId: requestIdSource(),
  upstreamSeconds: (id, seconds) => metrics.upstream(id).observe(seconds),
  logPluginError: () => undefined,
};
const handler = createRequestHandler(worker, 'http');

const RAW = ['Host', 'api.shop.example', 'User-Agent', 'wrk', 'Accept', '*/*', 'Connection', 'keep-alive'];
let status = 0;
/** The members of a client response the handler uses, doing nothing. */
const res = {
  headersSent: false,
  destroyed: false,
  statusCode: 200,
  writeHead(s: number) { status = s; return this; },
  write: () => true,
  end() { return this; },
  once() { return this; },
  on() { return this; },
  off() { return this; },
  destroy() { return this; },
  flushHeaders: () => undefined,
} as unknown as GatewayResponse;

for (const route of ['api', 'prom']) {
  const req = { method: 'GET', url: `/${route}/hello`, httpVersion: '1.1', httpVersionMajor: 1, httpVersionMinor: 1, rawHeaders: RAW, socket: { remoteAddress: '127.0.0.1' }, readableEnded: true, headers: { host: 'api.shop.example' } } as unknown as GatewayRequest;
  const round = (): number => {
    const t = process.cpuUsage();
    for (let i = 0; i < calls; i++) handler(req, res);
    const used = process.cpuUsage(t);
    return ((used.user + used.system) * 1000) / calls;
  };
  round();
  round(); // warm-up: the JIT's optimised code, not the interpreter
  if (status !== 200) throw new Error(`the handler answered ${status}`);
  const figures = Array.from({ length: 9 }, round).sort((a, b) => a - b);
  process.stdout.write(`request handler, route ${route === 'api' ? 'without plugins' : 'with prometheus'}: ${calls} requests x 9 rounds: median ${figures[4]?.toFixed(0)} ns/request CPU (min ${figures[0]?.toFixed(0)}, max ${figures[8]?.toFixed(0)})\n`);
}
