import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type, type Static } from '@sinclair/typebox';
import { request as httpRequest } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { BUILTIN_PLUGINS, PluginRegistry, pluginMetrics, type Plugin } from '../../../src/plugins/index.js';
import { freePort } from '../../harness/index.js';
import { send, startGateway, startUpstream, wsRefusal, type TestGateway, type Upstream } from '../helpers.js';

/**
 * One request lifecycle (issue 15): whatever way a request ends (the upstream's answer, a
 * plugin's answer, a plugin that fails, a refusal, an upstream error, the client gone), plain
 * or upgrade, it is counted once in the gateway's metrics and the log phase of its route's
 * plugins runs with the status sent. A test plugin records what its log phase saw.
 */

const ProbeConfig = Type.Object({
  fail: Type.Optional(Type.Union([Type.Literal('throw'), Type.Literal('reject')])),
  stop: Type.Optional(Type.Boolean()),
  holdMs: Type.Optional(Type.Integer()),
});
type ProbeConfig = Static<typeof ProbeConfig>;

const logged: Array<{ route: string; status: number | undefined; requestId: string }> = [];

const probe: Plugin<ProbeConfig> = {
  name: 'test-probe',
  version: '1.0.0',
  priority: 50,
  schema: ProbeConfig,
  phases: {
    access: (_ctx, cfg) => {
      if (cfg.fail === 'throw') throw new Error('a plugin bug');
      if (cfg.fail === 'reject') return Promise.reject(new Error('a dependency is down'));
      if (cfg.stop) return { status: 418, body: 'stopped by a plugin', headers: { 'x-stopped': '1' } };
      // An access check that takes a while (a remote call): the client may leave meanwhile.
      if (cfg.holdMs !== undefined) return new Promise<undefined>((r) => setTimeout(() => r(undefined), cfg.holdMs));
      return undefined;
    },
    log: (ctx) => {
      logged.push({ route: ctx.route.id, status: ctx.status, requestId: ctx.requestId });
    },
  },
};

/** The statuses the log phase saw for a route, once `n` of them arrived. */
async function loggedFor(route: string, n = 1): Promise<Array<number | undefined>> {
  await expect.poll(() => logged.filter((l) => l.route === route).length, { timeout: 5_000 }).toBeGreaterThanOrEqual(n);
  return logged.filter((l) => l.route === route).map((l) => l.status);
}

describe('every request finishes once: metrics and the plugins\' log phase', () => {
  let up: Upstream;
  let wss: WebSocketServer;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      if (req.url?.endsWith('/stall')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first part, and then nothing');
        return;
      }
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const wsPort = await freePort();
    wss = new WebSocketServer({ host: '127.0.0.1', port: wsPort });
    wss.on('connection', (sock, req) => sock.on('message', (m) => sock.send(`echo:${m.toString()}:${String(req.headers['x-consumer-username'])}`)));
    const dead = await freePort();
    const node = (port: number) => ({ nodes: [{ host: '127.0.0.1', port }] });
    const r = (id: string, plugins: Record<string, unknown>, extra: Record<string, unknown> = { upstream: node(up.port) }) => ({ id, paths: [`/${id}/*`], plugins, ...extra });
    gw = await startGateway(
      {
        consumers: [{ username: 'alice', plugins: { 'key-auth': { key: 'alice-key-123456' } } }],
        routes: [
          r('ok', { 'test-probe': {} }),
          r('stop', { 'test-probe': { stop: true } }),
          r('throws', { 'test-probe': { fail: 'throw' }, prometheus: {} }),
          r('rejects', { 'test-probe': { fail: 'reject' } }),
          r('hold', { 'test-probe': { holdMs: 300 } }),
          r('limited', { 'test-probe': {} }, { upstream: node(up.port), max_body_size: 10 }),
          r('down', { 'test-probe': {} }, { upstream: node(dead) }),
          r('noup', { 'test-probe': {} }, {}),
          r('ws', { 'test-probe': {}, 'key-auth': {} }, { upstream: node(wsPort) }),
          r('wsthrows', { 'test-probe': { fail: 'throw' } }, { upstream: node(wsPort) }),
          r('wsstop', { 'test-probe': { stop: true } }, { upstream: node(wsPort) }),
        ],
      },
      {},
      new PluginRegistry([...BUILTIN_PLUGINS, probe as Plugin]),
    );
  });
  afterAll(async () => {
    await gw.stop();
    await up.close();
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(() => r(undefined)));
  });

  const requestsTotal = async (route: string, upstream: string, code: number): Promise<number> => {
    const text = await gw.worker.metrics.registry.metrics();
    const m = new RegExp(`meridian_http_requests_total\\{route="${route}",upstream="${upstream}",code="${code}"\\} (\\d+)`).exec(text);
    return m ? Number(m[1]) : 0;
  };

  // Old code: the plugin-failure branch answered 500 and counted it, but never ran the log phase.
  it('a plugin that throws or rejects in a request phase: 500, counted, and the log phase (prometheus too) sees it', async () => {
    for (const route of ['throws', 'rejects']) {
      const r = await send(`${gw.url}/${route}/x`);
      expect(r.status).toBe(500);
      expect(r.json()).toMatchObject({ code: 'MERIDIAN_ERR_PLUGIN_FAILED', request_id: r.headers['x-request-id'] });
      expect(await loggedFor(route)).toEqual([500]);
      expect(logged.find((l) => l.route === route)?.requestId).toBe(r.headers['x-request-id']);
      // The upstream never saw it.
      expect(await requestsTotal(route, 'none', 500)).toBe(1);
    }
    expect(await pluginMetrics.metrics()).toMatch(/meridian_plugin_requests_total\{route="throws",upstream="[^"]+",consumer="",code="500"\} 1\n/);
  });

  it('an answer from the upstream, a plugin\'s answer, an upstream error, no upstream: each logged and counted with its status', async () => {
    const ok = await send(`${gw.url}/ok/x`);
    expect(ok.status).toBe(200);
    expect(await loggedFor('ok')).toEqual([200]);
    expect(await requestsTotal('ok', 'route.ok', 200)).toBe(1);

    const stopped = await send(`${gw.url}/stop/x`);
    expect([stopped.status, stopped.body, stopped.headers['x-stopped']]).toEqual([418, 'stopped by a plugin', '1']);
    expect(await loggedFor('stop')).toEqual([418]);
    expect(await requestsTotal('stop', 'none', 418)).toBe(1);

    expect((await send(`${gw.url}/down/x`)).status).toBe(502);
    expect(await loggedFor('down')).toEqual([502]);
    expect(await requestsTotal('down', 'route.down', 502)).toBe(1);

    const noUpstream = await send(`${gw.url}/noup/x`);
    expect(noUpstream.json()).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_NO_UPSTREAM' });
    expect(await loggedFor('noup')).toEqual([503]);
    expect(await requestsTotal('noup', 'none', 503)).toBe(1);
  });

  it('a refusal after routing (max_body_size by Content-Length) runs the route\'s log phase too', async () => {
    const r = await send(`${gw.url}/limited/x`, { method: 'POST', body: 'far more than ten bytes' });
    expect(r.status).toBe(413);
    expect(await loggedFor('limited')).toEqual([413]);
    expect(await requestsTotal('limited', 'none', 413)).toBe(1);
  });

  // Gone = reset: a client that only half-closes (FIN) may still read its answer.
  it('a client gone while the plugins run, or while the answer streams: 499, logged and counted', async () => {
    // Leaves while an access check is pending.
    const early = httpRequest({ host: '127.0.0.1', port: gw.port, path: '/hold/x', agent: false });
    early.on('error', () => undefined);
    early.end();
    early.once('socket', (s) => s.once('connect', () => setTimeout(() => s.resetAndDestroy(), 50)));
    expect(await loggedFor('hold')).toEqual([499]);
    expect(await requestsTotal('hold', 'none', 499)).toBe(1);
    // Leaves after the first bytes of an answer that never ends.
    const late = httpRequest({ host: '127.0.0.1', port: gw.port, path: '/ok/stall', agent: false }, (res) => res.once('data', () => late.socket?.resetAndDestroy()));
    late.on('error', () => undefined);
    late.end();
    expect(await loggedFor('ok', 2)).toEqual([200, 499]);
    expect(await requestsTotal('ok', 'route.ok', 499)).toBe(1);
  });

  it('a WebSocket with plugins: the consumer reaches the upstream, and the request finishes (101) when the socket closes', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws/chat`, { headers: { apikey: 'alice-key-123456' } });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send('hi'));
      ws.on('message', (m) => resolve(m.toString()));
      ws.on('error', reject);
    });
    expect(reply).toBe('echo:hi:alice');
    expect(logged.filter((l) => l.route === 'ws')).toEqual([]); // still open: not finished
    ws.close();
    expect(await loggedFor('ws')).toEqual([101]);
    expect(await requestsTotal('ws', 'route.ws', 101)).toBe(1);
  });

  it('a WebSocket refused by a plugin, or whose plugin throws: answered, logged and counted', async () => {
    expect(await wsRefusal(`ws://127.0.0.1:${gw.port}/wsstop/chat`)).toEqual({ status: 418, body: 'stopped by a plugin' });
    expect(await loggedFor('wsstop')).toEqual([418]);
    const thrown = await wsRefusal(`ws://127.0.0.1:${gw.port}/wsthrows/chat`);
    expect(thrown.status).toBe(500);
    expect(JSON.parse(thrown.body)).toMatchObject({ code: 'MERIDIAN_ERR_PLUGIN_FAILED' });
    expect(await loggedFor('wsthrows')).toEqual([500]);
    expect(await requestsTotal('wsthrows', 'none', 500)).toBe(1);
    // key-auth refuses a socket without a key: the log phase of the route sees the 401 too.
    expect((await wsRefusal(`ws://127.0.0.1:${gw.port}/ws/chat`)).status).toBe(401);
    expect(await loggedFor('ws', 2)).toEqual([101, 401]);
  });
});
