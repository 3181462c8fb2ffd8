import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { useServers, type RedisServer } from '../harness/index.js';
import { echoUpstream } from './helpers/upstream.js';
import { startPluginGateway, type PluginGateway } from './helpers/meridian-gateway.js';

/**
 * The plugins in the real gateway (`meridian gateway`, file config, one worker) against a real
 * Redis and a real upstream. Consumers reach the auth plugins through PluginServices.consumers,
 * which the worker hands over at start.
 */
describe('plugins end to end in meridian gateway', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-plugins-e2e-'));
  let redis: RedisServer;
  let upstream: Awaited<ReturnType<typeof echoUpstream>>;
  let gw: PluginGateway | undefined;
  let url = '';

  beforeAll(async () => {
    const servers = await useServers();
    redis = await servers.redis();
    upstream = await echoUpstream();
    const up = { nodes: [{ host: '127.0.0.1', port: Number(new URL(upstream.url).port) }] };
    writeFileSync(join(dir, 'routes.yaml'), JSON.stringify({
      revision: 1,
      consumers: [{ username: 'alice', plugins: { 'key-auth': { key: 'alice-key-123456' } } }],
      global_rules: [{ id: 'g', plugins: { 'request-id': {}, prometheus: {} } }],
      routes: [
        // An hour's window: five requests never straddle a window boundary. A 10 s command
        // timeout: on a loaded CI machine the 100 ms default can count as Redis down, and the
        // local fallback (by design) admits its own 3 on top of Redis' count.
        { id: 'limited', paths: ['/limited'], upstream: up, plugins: { 'limit-count': { count: 3, time_window: 3600, key_type: 'route', redis: { command_timeout_ms: 10_000 } } } },
        { id: 'keyed', paths: ['/keyed'], upstream: up, plugins: { 'key-auth': {} } },
        { id: 'denied', paths: ['/denied'], upstream: up, plugins: { 'ip-restriction': { deny: ['127.0.0.0/8'] } } },
      ],
    }));
    gw = await startPluginGateway({ dir, name: 'gw-plugins', redisUrl: redis.url, ready: async (u) => (await fetch(`${u}/denied`)).status === 403 });
    url = gw.url;
  }, 90_000);

  afterAll(async () => {
    await gw?.stop();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('limit-count counts in Redis: 3 allowed, then 429 with RateLimit headers; request-id set', async () => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await fetch(`${url}/limited`);
      await last.arrayBuffer();
      statuses.push(last.status);
    }
    expect(statuses, gw?.output()).toEqual([200, 200, 200, 429, 429]);
    expect(last!.headers.get('ratelimit-limit')).toBe('3');
    expect(last!.headers.get('retry-after')).not.toBeNull();
    expect(last!.headers.get('x-request-id')).toBeTruthy();
    const direct = new Redis(redis.url);
    const keys = await direct.keys('meridian:lc:{limited:*');
    expect(keys.length).toBe(1);
    expect(await direct.get(keys[0]!)).toBe('3');
    direct.disconnect();
  });

  it('ip-restriction refuses a denied address with the coded 403', async () => {
    const r = await fetch(`${url}/denied`);
    expect(r.status).toBe(403);
    expect(await r.json()).toEqual({ code: 'MERIDIAN_ERR_PLUGIN_FORBIDDEN', message: 'forbidden', request_id: r.headers.get('x-request-id') });
  });

  it('key-auth refuses a request without a key', async () => {
    const r = await fetch(`${url}/keyed`);
    expect(r.status).toBe(401);
  });

  it('key-auth lets a consumer through and names it upstream (PluginServices.consumers)', async () => {
    const r = await fetch(`${url}/keyed`, { headers: { apikey: 'alice-key-123456' } });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { headers: Record<string, string> };
    expect(body.headers['x-consumer-username']).toBe('alice');
  });
});
