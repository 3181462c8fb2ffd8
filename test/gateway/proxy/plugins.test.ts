import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { PluginRegistry, type Plugin } from '../../../src/plugins/index.js';
import { send, startGateway, startUpstream, type TestGateway, type Upstream } from '../helpers.js';

const logged: Array<{ route: string; status: number | undefined }> = [];

const guard: Plugin<{ token: string }> = {
  name: 'test-guard',
  version: '1.0.0',
  priority: 100,
  schema: Type.Object({ token: Type.String() }),
  phases: {
    access: async (ctx, conf) => (ctx.req.headers['x-token'] === conf.token ? undefined : { status: 403, body: { denied: true } }),
  },
};
const tagger: Plugin = {
  name: 'test-tagger',
  version: '1.0.0',
  priority: 10,
  schema: Type.Object({}),
  phases: {
    before_proxy: (ctx) => {
      ctx.upstreamHeaders['x-tagged'] = 'yes';
    },
    header_filter: async (ctx) => {
      ctx.responseHeaders['x-upstream-status'] = String(ctx.upstreamStatus);
    },
    log: (ctx) => {
      logged.push({ route: ctx.route.id, status: ctx.status });
    },
  },
};

describe('plugin chain in the proxy', () => {
  let up: Upstream;
  let gw: TestGateway;
  beforeAll(async () => {
    up = await startUpstream();
    gw = await startGateway(
      {
        routes: [
          { id: 'admin', paths: ['/admin'], upstream: { nodes: [{ host: '127.0.0.1', port: up.port }] }, plugins: { 'test-guard': { token: 't0k' }, 'test-tagger': {} } },
          { id: 'public', paths: ['/a/*'], upstream: { nodes: [{ host: '127.0.0.1', port: up.port }] } },
        ],
      },
      {},
      new PluginRegistry([guard as Plugin, tagger]),
    );
  });
  afterAll(async () => {
    await gw.stop();
    await up.close();
  });

  it('runs request, header_filter and log phases around the proxy', async () => {
    const ok = await send(`${gw.url}/admin`, { headers: { 'x-token': 't0k' } });
    expect(ok.status).toBe(200);
    expect(ok.json<{ headers: Record<string, string> }>().headers['x-tagged']).toBe('yes');
    expect(ok.headers['x-upstream-status']).toBe('200');
    await new Promise((r) => setTimeout(r, 20));
    expect(logged).toContainEqual({ route: 'admin', status: 200 });
  });

  it('a short-circuit answers without reaching the upstream, and /a/../admin cannot bypass it', async () => {
    const before = up.hits;
    for (const path of ['/admin', '/a/../admin', '/a/%2e%2e/admin', '/a//../admin']) {
      const r = await send(gw.url, { path });
      expect(r.status).toBe(403);
      expect(r.json()).toEqual({ denied: true });
    }
    expect(up.hits).toBe(before);
  });

  it('rejects a config whose plugin config is invalid, naming the plugin and field', async () => {
    await expect(gw.apply({ routes: [{ id: 'x', paths: ['/x'], upstream: { nodes: [{ host: '127.0.0.1', port: up.port }] }, plugins: { 'test-guard': { token: 5 } } }] })).rejects.toThrow(/test-guard.*token/);
  });
});
