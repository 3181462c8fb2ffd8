import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { eventually, freePort } from '../harness/index.js';
import { spawnMeridian } from '../harness/cli.js';
import { send, startUpstream, type Upstream } from './helpers.js';

describe('graceful drain on SIGTERM', () => {
  let up: Upstream;
  const dir = mkdtempSync(join(tmpdir(), 'meridian-drain-'));
  let gw: ReturnType<typeof spawnMeridian>;
  let port: number;
  let admin: string;

  beforeAll(async () => {
    up = await startUpstream((req, res) => setTimeout(() => res.end('ok'), req.url === '/slow' ? 2_500 : 5));
    port = await freePort();
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    const data = join(dir, 'data.yaml');
    writeFileSync(data, JSON.stringify({ revision: 1, routes: [{ id: 'r', paths: ['/*'], upstream: { nodes: [{ host: '127.0.0.1', port: up.port }] } }] }));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, JSON.stringify({
      node: { name: 'drainer', region: 'r1' },
      listen: { http: `127.0.0.1:${port}` },
      admin: { listen: `127.0.0.1:${adminPort}` },
      workers: 2,
      config: { source: 'file', file: data, snapshot_file: join(dir, 'snap.json') },
      drain: { grace_ms: 1_500, timeout_ms: 10_000 },
    }));
    gw = spawnMeridian(['gateway', '-c', file], { MERIDIAN_LOG_LEVEL: 'warn' });
    await eventually(async () => (await send(`${admin}/healthz`)).status === 200, 30_000, 200);
    await eventually(async () => (await send(`http://127.0.0.1:${port}/x`)).status === 200, 10_000, 100);
  });
  afterAll(async () => {
    if (gw.exitCode === null) gw.kill('SIGKILL');
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses no request under steady load: healthz 503 first, in-flight requests finish, then exit', async () => {
    const agent = new Agent({ connections: 16, keepAliveTimeout: 30_000 });
    const base = `http://127.0.0.1:${port}`;
    let ok = 0;
    const failures: string[] = [];
    let stopAt = Infinity;
    // 16 clients with keep-alive connections, sending back to back until "DNS" moved them away.
    const clients = Array.from({ length: 16 }, async () => {
      while (Date.now() < stopAt) {
        try {
          const r = await request(`${base}/x`, { dispatcher: agent });
          await r.body.text();
          if (r.statusCode === 200) ok++;
          else failures.push(`status ${r.statusCode}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    });
    await new Promise((r) => setTimeout(r, 500));
    // A slow request that is still in flight when the listeners close (grace ends at 1.5 s).
    const slow = (async () => {
      const r = await request(`${base}/slow`, { dispatcher: agent });
      return { status: r.statusCode, body: await r.body.text() };
    })();
    await new Promise((r) => setTimeout(r, 50));
    const killedAt = Date.now();
    gw.kill('SIGTERM');
    // healthz turns 503 at once, while traffic is still served.
    await eventually(async () => (await send(`${admin}/healthz`)).status === 503, 1_000, 20);
    // Clients move away before the grace period ends (DNS TTL).
    stopAt = killedAt + 1_000;
    await Promise.all(clients);
    expect(await slow).toEqual({ status: 200, body: 'ok' });
    const code = await new Promise<number | null>((r) => (gw.exitCode !== null ? r(gw.exitCode) : gw.once('exit', (c) => r(c))));
    await agent.close();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(100);
    expect(code).toBe(0);
  });
});
