import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echoUpstream } from './helpers/upstream.js';
import { startPluginGateway, type PluginGateway } from './helpers/meridian-gateway.js';

/**
 * proxy-rewrite's regex_uri runs on every client path: in the real gateway (`meridian
 * gateway`, file config) an unsafe pattern is refused at config time, naming regex_uri, and a
 * safe one rewrites (a path over 1024 characters is sent as it is, never run on).
 */
describe('proxy-rewrite regex_uri in meridian gateway', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-proxy-rewrite-'));
  let upstream: Awaited<ReturnType<typeof echoUpstream>>;
  let gw: PluginGateway | undefined;
  let up: { nodes: Array<{ host: string; port: number }> };
  const safe = { id: 'api', paths: ['/api/*'], plugins: { 'proxy-rewrite': { regex_uri: ['^/api/(.*)$', '/v2/$1'] } } };
  const upstreamUrl = async (path: string): Promise<string> => {
    const r = await fetch(`${gw!.url}${path}`);
    expect(r.status, gw!.output()).toBe(200);
    return ((await r.json()) as { url: string }).url;
  };

  beforeAll(async () => {
    upstream = await echoUpstream();
    up = { nodes: [{ host: '127.0.0.1', port: Number(new URL(upstream.url).port) }] };
    writeFileSync(join(dir, 'routes.yaml'), JSON.stringify({ revision: 1, routes: [{ ...safe, upstream: up }] }));
    gw = await startPluginGateway({ dir, name: 'gw-proxy-rewrite', ready: async (u) => (await fetch(`${u}/api/x`)).status === 200 });
  }, 90_000);

  afterAll(async () => {
    await gw?.stop();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a safe pattern rewrites the path; a path over 1024 characters is not run on', async () => {
    expect(await upstreamUrl('/api/users/7?q=1')).toBe('/v2/users/7?q=1');
    const long = `/api/${'a'.repeat(1_100)}`;
    expect(await upstreamUrl(long)).toBe(long);
  });

  it('(a+)+$ is refused with the whole config, naming regex_uri; the last good config keeps serving', async () => {
    writeFileSync(join(dir, 'routes.yaml'), JSON.stringify({
      revision: 2,
      routes: [
        { ...safe, upstream: up },
        { id: 'redos', paths: ['/redos/*'], upstream: up, plugins: { 'proxy-rewrite': { regex_uri: ['(a+)+$', '/x'] } } },
      ],
    }));
    const rejection = async () => ((await (await fetch(`${gw!.admin}/status`)).json()) as { config: { last_rejection?: { code: string; reason: string; revision?: number } } }).config.last_rejection;
    await expect.poll(async () => (await rejection())?.revision, { timeout: 20_000 }).toBe(2);
    const r = await rejection();
    expect(r?.code).toBe('MERIDIAN_ERR_GATEWAY_CONFIG_REJECTED');
    expect(r?.reason).toMatch(/proxy-rewrite .*regex_uri\[0\]: invalid regular expression: nested quantifier/);
    expect((await fetch(`${gw!.url}/redos/${'a'.repeat(40)}!`)).status).toBe(404);
    expect(await upstreamUrl('/api/still')).toBe('/v2/still');
  });
});
