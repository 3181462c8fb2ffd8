import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, useServers } from '../harness/index.js';
import { spawnMeridian } from '../harness/cli.js';
import type { Controller } from '../../controller/controller.js';
import type { ControllerStatus, NodeStatus } from '../../controller/status.js';
import { sha256Hex } from '../../controller/api/auth.js';
import { call, GATEWAY_TOKEN, runCtl, startController, waitFor } from './helpers.js';

// A real `meridian gateway` registered in region east and named by its cluster definition, a
// real `meridian prober` probing it, then SIGKILL: `ctl status` must say so and exit non-zero.
const servers = await useServers();
const dir = mkdtempSync(join(tmpdir(), 'meridian-ctl-status-'));
let ctl: Controller;
let backend: Server;
let gatewayUrl = '';
let gateway: ReturnType<typeof spawnMeridian>;
let prober: ReturnType<typeof spawnMeridian>;

const ctlRun = (args: string[]) => runCtl(ctl.url, args);
const gw1 = async (): Promise<NodeStatus | undefined> => (await call<ControllerStatus>(ctl.url, 'GET', '/v1/status')).body.regions[0]?.nodes.find((n) => n.name === 'gw1');

beforeAll(async () => {
  const [central, east] = await Promise.all([servers.etcd(), servers.etcd()]);
  ctl = await startController(central.endpoint);
  backend = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const [http, admin, proberAdmin] = [await freePort(), await freePort(), await freePort()];
  gatewayUrl = `http://127.0.0.1:${http}`;
  await call(ctl.url, 'PUT', '/v1/regions/east', { body: { etcd: { endpoints: [east.endpoint] }, clusters: [{ name: 'c1', nodes: [{ name: 'gw1', address: '127.0.0.1', port: http, admin: `http://127.0.0.1:${admin}` }] }] } });
  await call(ctl.url, 'PUT', '/v1/upstreams/u1', { body: { nodes: [{ host: '127.0.0.1', port: (backend.address() as { port: number }).port }] } });
  writeFileSync(join(dir, 'gw1.yaml'), stringify({
    node: { name: 'gw1', cluster: 'c1', region: 'east' }, listen: { http: `127.0.0.1:${http}` }, workers: 1,
    admin: { listen: `127.0.0.1:${admin}`, token_hash: sha256Hex(GATEWAY_TOKEN) },
    config: { etcd: { endpoints: [east.endpoint] }, snapshot_file: join(dir, 'gw1.snapshot.json') },
    registration: { ttl_s: 2 },
  }));
  writeFileSync(join(dir, 'prober.yaml'), stringify({ name: 'p-east', region: 'east', admin: `127.0.0.1:${proberAdmin}`, etcd: { endpoints: [central.endpoint] }, interval_ms: 200, rise: 1, fall: 2, lease_ttl_s: 2 }));
  const env = { MERIDIAN_LOG_LEVEL: 'warn' };
  gateway = spawnMeridian(['gateway', '-c', join(dir, 'gw1.yaml')], env);
  prober = spawnMeridian(['prober', '-c', join(dir, 'prober.yaml')], env);
});
afterAll(async () => {
  for (const child of [gateway, prober]) if (child && child.exitCode === null) child.kill('SIGKILL');
  await ctl?.stop();
  backend?.close();
});

describe('ctl status and apply --wait with a real gateway and prober', () => {
  it('apply --wait prints a line per region until its node serves the revision', async () => {
    await eventually(async () => (await gw1())?.registered === true && (await gw1())?.probe?.up === true, 60_000, 200);
    const r = await ctlRun(['apply', '--wait', '-f', writeRoute()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('routes/shop created');
    expect(lines.at(-1)).toMatch(/^east: serves revision (\d+): config at \1, 1\/1 node\(s\)$/);
    // Served indeed: the wait ended when the node had it.
    const res = await fetch(`${gatewayUrl}/shop`);
    expect(res.status).toBe(200);
  }, 90_000);

  it('a killed gateway shows as down (probers), then missing once its registration expires, and status exits 1', async () => {
    const healthy = await ctlRun(['status']);
    expect(healthy.code).toBe(0);
    expect(healthy.stdout).toMatch(/^east\s+in_sync\s+\d+\s+\d+$/m);
    expect(healthy.stdout).toMatch(/^ {2}east\s+c1\/gw1\s+in_sync\s+\d+\s+\d+\s+up since \S+Z \(1\/1 probers\)$/m);

    gateway.kill('SIGKILL');
    const down = await waitFor(async () => {
      const r = await ctlRun(['status']);
      return /c1\/gw1\s+down/.test(r.stdout) && r;
    }, 20_000);
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^east\s+degraded\s/m);
    expect(down.stdout).toMatch(/^ {2}east\s+c1\/gw1\s+down\s+\d+\s+\S+\s+down since \S+Z \(1\/1 probers\)$/m);

    // The lease (2 s) expires: the node is still listed (the cluster definition names it), not registered.
    const gone = await eventually(async () => ((await gw1())?.registered === false ? gw1() : undefined), 20_000, 100);
    expect(gone).toMatchObject({ state: 'down', registered: false, expected: true, config_revision: null, probe: { up: false, down_count: 1 } });

    // Without the prober's view (its lease gone with it), the node is missing.
    prober.kill('SIGKILL');
    const missing = await waitFor(async () => {
      const r = await ctlRun(['status', '-o', 'json']);
      const node = (JSON.parse(r.stdout) as ControllerStatus).regions[0]?.nodes[0];
      return node?.state === 'missing' && { r, node };
    }, 20_000);
    expect(missing.r.code).toBe(1);
    expect(missing.node).toMatchObject({ name: 'gw1', registered: false, probe: null });
    expect((JSON.parse(missing.r.stdout) as ControllerStatus).regions[0]?.state).toBe('degraded');
  }, 90_000);
});

function writeRoute(): string {
  const path = join(dir, 'route.yaml');
  writeFileSync(path, 'kind: route\nspec: { id: shop, paths: [/shop], upstream_id: u1 }\n');
  return path;
}
