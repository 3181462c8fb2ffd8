import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type, type Static } from '@sinclair/typebox';
import { RuntimeBuilder } from '../../../src/gateway/build.js';
import { BUILTIN_PLUGINS, PluginRegistry, type Plugin, type PluginServices } from '../../../src/plugins/index.js';
import { freePort } from '../../harness/index.js';
import { send, startGateway, startUpstream, type TestGateway, type Upstream } from '../helpers.js';

/**
 * The context hooks of src/plugins/contract.ts as the real gateway honours them (worker,
 * handler, exchange), against a real node:http upstream. Test plugins set the hooks the way
 * the built-in ones do (proxy-cache, hmac-auth, body-limit, response-rewrite, the breakers).
 */

const HooksConfig = Type.Object({
  capture: Type.Optional(Type.Integer()),
  fallback: Type.Optional(Type.String()),
  readBody: Type.Optional(Type.Boolean()),
  maxBody: Type.Optional(Type.Integer()),
  upstreamHeaders: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()]))),
});
type HooksConfig = Static<typeof HooksConfig>;

interface Seen {
  route: string;
  status: number | undefined;
  upstreamStatus: number | undefined;
  upstreamError: string | undefined;
}
const seen: Seen[] = [];
const captured: Array<{ route: string; body: string; headers: Readonly<Record<string, string | string[]>> }> = [];
let services: PluginServices | undefined;

const hooks: Plugin<HooksConfig> = {
  name: 'test-hooks',
  version: '1.0.0',
  priority: 50,
  schema: HooksConfig,
  init: (s) => {
    services = s;
  },
  phases: {
    rewrite: (ctx, cfg) => {
      if (cfg.maxBody !== undefined) ctx.maxRequestBody = cfg.maxBody;
      if (cfg.upstreamHeaders !== undefined) Object.assign(ctx.upstreamHeaders, cfg.upstreamHeaders);
    },
    access: async (ctx, cfg) => {
      if (!cfg.readBody) return undefined;
      // As hmac-auth's digest check does: the whole body read here, the stream is spent.
      const chunks: Buffer[] = [];
      for await (const c of ctx.req) chunks.push(c as Buffer);
      ctx.requestBody = Buffer.concat(chunks);
      return undefined;
    },
    before_proxy: (ctx, cfg) => {
      if (cfg.capture !== undefined) {
        ctx.captureBody = { maxBytes: cfg.capture, done: (body, headers) => captured.push({ route: ctx.route.id, body: body.toString(), headers }) };
      }
      const stale = cfg.fallback;
      if (stale !== undefined) ctx.upstreamFallback = () => ({ status: 200, body: stale, headers: { 'x-fallback': '1' } });
    },
    log: (ctx) => {
      seen.push({ route: ctx.route.id, status: ctx.status, upstreamStatus: ctx.upstreamStatus, upstreamError: ctx.upstreamError });
    },
  },
};

/** A response plugin (so the exchange holds the body for header_filter), optionally replacing the answer. */
const filter: Plugin<{ replace?: boolean }> = {
  name: 'test-filter',
  version: '1.0.0',
  priority: 40,
  schema: Type.Object({ replace: Type.Optional(Type.Boolean()) }),
  phases: {
    header_filter: async (ctx, cfg) => {
      ctx.responseHeaders['x-filtered'] = String(ctx.upstreamStatus);
      return cfg.replace ? { status: 299, body: `replaced ${String(ctx.upstreamStatus)}` } : undefined;
    },
  },
};

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 30));
const lastSeen = (route: string): Seen | undefined => seen.filter((s) => s.route === route).at(-1);

describe('plugin hooks in the gateway', () => {
  let up: Upstream;
  let gw: TestGateway;
  let deadPort: number;
  let config: Record<string, unknown>;

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const path = req.url ?? '/';
      if (path.endsWith('/slow')) return; // never answers: the read timeout fires
      if (path.endsWith('/500')) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('boom');
        return;
      }
      if (path.endsWith('/big')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('x'.repeat(5000));
        return;
      }
      if (path.endsWith('/cut')) {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
        res.write('partial');
        setTimeout(() => res.destroy(), 20);
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        // Echoes the request id back, as many services do: the client must still see one.
        res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': String(req.headers['x-request-id']), 'x-up': 'yes' });
        res.end(JSON.stringify({ url: req.url, body: Buffer.concat(chunks).toString(), headers: req.headers }));
      });
    });
    deadPort = await freePort();
    const node = { nodes: [{ host: '127.0.0.1', port: up.port }] };
    const dead = { nodes: [{ host: '127.0.0.1', port: deadPort }] };
    const r = (id: string, plugins: Record<string, unknown> | undefined, upstream = node, extra: Record<string, unknown> = {}) => ({ id, paths: [`/${id}/*`], upstream, ...(plugins ? { plugins } : {}), ...extra });
    config = {
      consumers: [{ username: 'alice', plugins: { 'key-auth': { key: 'alice-key-123456' }, 'test-hooks': {} } }],
      routes: [
        r('plain', undefined),
        r('keyed', { 'key-auth': {} }),
        r('cap', { 'test-hooks': { capture: 1000 } }),
        r('capf', { 'test-hooks': { capture: 1000 }, 'test-filter': {} }),
        r('rw', { 'test-filter': { replace: true } }),
        r('down', { 'test-hooks': {} }, dead),
        r('slow', { 'test-hooks': {} }, node, { timeout: { read: 300 } }),
        r('fb', { 'test-hooks': { fallback: 'stale copy' }, 'test-filter': {} }),
        r('fbdown', { 'test-hooks': { fallback: 'stale copy' } }, dead),
        r('body', { 'test-hooks': { readBody: true } }),
        r('limit', { 'body-limit': { max_bytes: 10 } }),
        r('limitcl', { 'test-hooks': { maxBody: 10 } }),
        // Client headers removed, then a bad value added where they were in the list: checked all the same.
        r('inject', { 'test-hooks': { upstreamHeaders: { 'x-c1': null, 'x-c2': null, 'x-c3': null, 'x-c4': null, 'x-c5': null, 'x-c6': null, 'x-client': 'a\r\ntransfer-encoding: chunked' } } }),
      ],
    };
    gw = await startGateway(config, {}, new PluginRegistry([...BUILTIN_PLUGINS, hooks as Plugin, filter as Plugin]));
  });
  afterAll(async () => {
    await gw.stop();
    await up.close();
  });

  it('a plugin\'s header edits are checked like any other header before they are sent: no header injection', async () => {
    const r = await send(`${gw.url}/inject/x`, { headers: { 'x-client': 'fine', 'x-c1': '1', 'x-c2': '2', 'x-c3': '3', 'x-c4': '4', 'x-c5': '5', 'x-c6': '6' } });
    expect(r.status).toBe(502);
    expect(r.json()).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR' });
    expect(r.json().reason ?? r.json().message).toMatch(/bad header x-client/);
  });

  it('hands the config consumers to the plugins: one array object per config, so key-auth lets alice in', async () => {
    const consumers = services?.consumers;
    expect(consumers).toBeDefined();
    const first = consumers?.();
    expect(first?.map((c) => c.username)).toEqual(['alice']);
    expect(consumers?.()).toBe(first); // same snapshot, same object: plugins keep their maps
    const ok = await send(`${gw.url}/keyed/x`, { headers: { apikey: 'alice-key-123456' } });
    expect(ok.status).toBe(200);
    expect(ok.json<{ headers: Record<string, string> }>().headers['x-consumer-username']).toBe('alice');
    expect((await send(`${gw.url}/keyed/x`, { headers: { apikey: 'wrong-key-123456' } })).status).toBe(401);
    // A new config: a new array, and its new consumer authenticates.
    await gw.apply({ ...config, consumers: [...(config.consumers as unknown[]), { username: 'bob', plugins: { 'key-auth': { key: 'bob-key-1234567' } } }] });
    expect(consumers?.()).not.toBe(first);
    expect((await send(`${gw.url}/keyed/x`, { headers: { apikey: 'bob-key-1234567' } })).status).toBe(200);
    await gw.apply(config);
  });

  it('rejects a config whose consumer carries a bad credential or plugin config, naming it', async () => {
    const registry = new PluginRegistry([...BUILTIN_PLUGINS, hooks as Plugin, filter as Plugin]);
    const withConsumer = (plugins: Record<string, unknown>) => ({ ...config, consumers: [{ username: 'carol', plugins }] });
    expect(() => RuntimeBuilder.dryRun(withConsumer({ 'key-auth': { key: 'short' } }), registry, 'r1')).toThrow(
      'config rejected: plugin key-auth at consumer carol: key: must be at least 8 characters',
    );
    expect(() => RuntimeBuilder.dryRun(withConsumer({ 'limit-count': { count: 'many', time_window: 60 } }), registry, 'r1')).toThrow(/^config rejected: plugin limit-count at consumer carol: count: /);
    expect(() => RuntimeBuilder.dryRun(withConsumer({ 'no-such-plugin': {} }), registry, 'r1')).toThrow(/no-such-plugin.*consumer carol/);
    // The worker refuses it whole too (the last good config keeps serving).
    const sent = gw.sent.length;
    await gw.worker.applyConfig({ ...(RuntimeBuilder.dryRun(config, registry, 'r1').config), revision: 99, consumers: [{ username: 'carol', plugins: { 'key-auth': { key: 'short' } } }] });
    expect(gw.sent.slice(sent)).toContainEqual(expect.objectContaining({ type: 'meridian:rejected', revision: 99, reason: expect.stringMatching(/consumer carol/) as unknown }));
    expect((await send(`${gw.url}/keyed/x`, { headers: { apikey: 'alice-key-123456' } })).status).toBe(200);
  });

  it('sets ctx.upstreamError when the upstream cannot be reached or times out', async () => {
    const refused = await send(`${gw.url}/down/x`);
    expect(refused.status).toBe(502);
    await settle();
    // Refused, retried, no other node: the reason is the gateway's error message.
    expect(lastSeen('down')).toMatchObject({ status: 502, upstreamStatus: undefined, upstreamError: 'upstream route.down failed: no other node to retry on' });
    const slow = await send(`${gw.url}/slow/slow`);
    expect(slow.status).toBe(504);
    await settle();
    expect(lastSeen('slow')).toMatchObject({ status: 504, upstreamError: expect.stringMatching(/timed out \(read\)/) as unknown });
    // A normal answer leaves it unset.
    expect((await send(`${gw.url}/slow/ok`)).status).toBe(200);
    await settle();
    expect(lastSeen('slow')).toMatchObject({ status: 200, upstreamStatus: 200, upstreamError: undefined });
  });

  it('sends a header_filter replacement instead of the upstream answer, and the connection stays usable', async () => {
    for (const path of ['/rw/x', '/rw/big', '/rw/500']) {
      const r = await send(`${gw.url}${path}`);
      expect(r.status).toBe(299);
      expect(r.body).toBe(`replaced ${path.endsWith('500') ? 500 : 200}`);
      expect(r.headers['x-up']).toBeUndefined();
      expect(r.headers['x-filtered']).toBe(path.endsWith('500') ? '500' : '200');
      expect(r.headers['x-request-id']).toBeTruthy();
    }
  });

  it('sends ctx.requestBody upstream when a plugin read the request stream', async () => {
    const chunked = await send(`${gw.url}/body/x`, { method: 'POST', body: 'signed payload', headers: { 'transfer-encoding': 'chunked' } });
    expect(chunked.status).toBe(200);
    expect(chunked.json<{ body: string }>().body).toBe('signed payload');
    const sized = await send(`${gw.url}/body/x`, { method: 'POST', body: 'sized payload' });
    expect(sized.json<{ body: string }>().body).toBe('sized payload');
  });

  it('stops a body over ctx.maxRequestBody with 413 MERIDIAN_ERR_PLUGIN_BODY_TOO_LARGE, streamed or by Content-Length', async () => {
    const before = up.hits;
    const streamed = await send(`${gw.url}/limit/x`, { method: 'POST', body: 'y'.repeat(64 * 1024), headers: { 'transfer-encoding': 'chunked' } });
    expect(streamed.status).toBe(413);
    expect(streamed.json()).toMatchObject({ code: 'MERIDIAN_ERR_PLUGIN_BODY_TOO_LARGE' });
    const declared = await send(`${gw.url}/limitcl/x`, { method: 'POST', body: 'y'.repeat(11) });
    expect(declared.status).toBe(413);
    expect(declared.json()).toMatchObject({ code: 'MERIDIAN_ERR_PLUGIN_BODY_TOO_LARGE', message: 'request body larger than 10 bytes' });
    expect(up.hits).toBe(before); // Content-Length over the limit: never proxied
    // Within the limit, both ways pass.
    expect((await send(`${gw.url}/limit/x`, { method: 'POST', body: 'small', headers: { 'transfer-encoding': 'chunked' } })).json<{ body: string }>().body).toBe('small');
    expect((await send(`${gw.url}/limitcl/x`, { method: 'POST', body: 'exactly10!' })).json<{ body: string }>().body).toBe('exactly10!');
  });

  it('captures a completed upstream body once (with and without header_filter), never one too large or cut', async () => {
    for (const route of ['cap', 'capf']) {
      captured.length = 0;
      const r = await send(`${gw.url}/${route}/item`);
      expect(r.status).toBe(200);
      await settle();
      expect(captured).toHaveLength(1);
      expect(captured[0]?.body).toBe(r.body);
      expect(captured[0]?.headers['x-up']).toBe('yes');
      captured.length = 0;
      expect((await send(`${gw.url}/${route}/big`)).body).toHaveLength(5000);
      await send(`${gw.url}/${route}/cut`).catch(() => undefined);
      await settle();
      expect(captured).toEqual([]);
    }
  });

  it('answers with ctx.upstreamFallback on a 5xx or an unreachable upstream', async () => {
    const five = await send(`${gw.url}/fb/500`);
    expect(five.status).toBe(200);
    expect(five.body).toBe('stale copy');
    expect(five.headers['x-fallback']).toBe('1');
    expect(five.headers['x-filtered']).toBe('500'); // header_filter still ran
    const down = await send(`${gw.url}/fbdown/x`);
    expect(down.status).toBe(200);
    expect(down.body).toBe('stale copy');
    await settle();
    expect(lastSeen('fbdown')).toMatchObject({ status: 200, upstreamError: expect.stringMatching(/^upstream route.fbdown failed/) as unknown });
    // A good answer is the upstream's.
    expect((await send(`${gw.url}/fb/x`)).headers['x-fallback']).toBeUndefined();
  });

  it('proxied answers carry X-Request-Id (one, the gateway\'s), with or without plugins', async () => {
    const given = await send(`${gw.url}/plain/x`, { headers: { 'x-request-id': 'rid-42' } });
    expect(given.status).toBe(200);
    expect(given.headers['x-request-id']).toBe('rid-42');
    const fresh = await send(`${gw.url}/plain/x`);
    expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-/);
    expect(fresh.json<{ headers: Record<string, string> }>().headers['x-request-id']).toBe(fresh.headers['x-request-id']);
    expect((await send(`${gw.url}/cap/x`, { headers: { 'x-request-id': 'rid-43' } })).headers['x-request-id']).toBe('rid-43');
  });
});
