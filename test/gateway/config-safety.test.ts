import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EtcdStore } from '../../src/core/etcd-store.js';
import { regionalKeys } from '../../src/core/keys.js';
import { PROJECT_ROOT } from '../../src/core/servers/binaries.js';
import { freePort, useServers, type EtcdServer } from '../harness/index.js';
import { spawnMeridian } from '../harness/cli.js';
import { defaultSnapshotFile } from '../../src/gateway/snapshot.js';
import { call, startController } from '../controller/helpers.js';
import type { Controller } from '../../controller/controller.js';
import { send, startUpstream, type Upstream } from './helpers.js';

// Issue 16 item 6 (an empty or older config must not wipe what a gateway serves), item 3
// (snapshot files hold secrets: 0600 in a 0700 folder), item 13 (source_connected is true
// only while etcd answers); issue 17 item 7 (the default snapshot path is per region).
// Every test runs `meridian gateway` as a process, against real etcd where etcd is involved.

interface Status {
  config: {
    origin: string;
    revision: number;
    routes: number;
    source_connected: boolean;
    source_error?: { reason: string };
    last_rejection?: { code: string; reason: string; revision?: number };
    snapshot_file: string;
  };
  workers: Array<{ revision: number; routes: number }>;
}

const WAIT = { timeout: 20_000, interval: 100 };
const mode = (path: string): number => statSync(path).mode & 0o777;

/** A `meridian gateway` process: its listeners, /status, and a stop that waits for the exit. */
async function gateway(dir: string, name: string, program: Record<string, unknown>) {
  const [port, adminPort] = [await freePort(), await freePort()];
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, JSON.stringify({
    listen: { http: `127.0.0.1:${port}` },
    admin: { listen: `127.0.0.1:${adminPort}` },
    workers: 1,
    drain: { grace_ms: 50, timeout_ms: 2_000 },
    registration: { ttl_s: 3 },
    ...program,
  }));
  let child: ReturnType<typeof spawnMeridian> | undefined;
  const g = {
    url: `http://127.0.0.1:${port}`,
    status: async (): Promise<Status> => (await send(`http://127.0.0.1:${adminPort}/status`)).json<Status>(),
    get: async (path: string): Promise<number> => (await send(`http://127.0.0.1:${port}${path}`)).status,
    output: (): string => child?.output() ?? '',
    start: async (): Promise<void> => {
      child = spawnMeridian(['gateway', '-c', file], { MERIDIAN_LOG_LEVEL: 'warn' });
      await vi.waitFor(async () => expect((await send(`http://127.0.0.1:${adminPort}/healthz`)).status).toBe(200), { timeout: 45_000, interval: 200 });
    },
    stop: async (): Promise<void> => {
      const c = child;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    },
  };
  return g;
}

type Gateway = Awaited<ReturnType<typeof gateway>>;

/** The config the gateway's snapshot file holds. */
function snapshotOf(file: string): { revision: number; routes: Array<{ id: string }> } {
  return (JSON.parse(readFileSync(file, 'utf8')) as { config: { revision: number; routes: Array<{ id: string }> } }).config;
}

let up: Upstream;
const dir = mkdtempSync(join(tmpdir(), 'meridian-config-safety-'));
beforeAll(async () => {
  up = await startUpstream((_req, res) => res.end('ok'));
});
afterAll(async () => {
  await up.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('standalone route file', () => {
  let gw: Gateway;
  const routes = join(dir, 'routes.yaml');
  // A folder the gateway creates itself.
  const snapshot = join(dir, 'file-state', 'gw.snapshot.json');
  const config = (revision: number, paths: string[], extra: Record<string, unknown> = {}): string => JSON.stringify({
    revision,
    ...extra,
    upstreams: [{ id: 'u', nodes: [{ host: '127.0.0.1', port: up.port }] }],
    routes: paths.map((p, i) => ({ id: `r${i}`, paths: [p], upstream_id: 'u' })),
  });

  beforeAll(async () => {
    writeFileSync(routes, config(5, ['/a', '/b']));
    gw = await gateway(dir, 'file-gw', { node: { name: 'gw-file', region: 'r1' }, config: { source: 'file', file: routes, snapshot_file: snapshot, debounce_ms: 20 } });
    await gw.start();
    await vi.waitFor(async () => expect(await gw.get('/a')).toBe(200), WAIT);
  });
  afterAll(async () => gw.stop());

  it('writes its snapshot 0600 in a folder it creates 0700', async () => {
    await vi.waitFor(() => expect(snapshotOf(snapshot).revision).toBe(5), WAIT);
    expect(mode(snapshot).toString(8)).toBe('600');
    expect(mode(dirname(snapshot)).toString(8)).toBe('700');
  });

  it('refuses a route file truncated to 0 bytes: keeps serving, says why, keeps the snapshot', async () => {
    truncateSync(routes, 0);
    const s = await vi.waitFor(async () => {
      const st = await gw.status();
      expect(st.config.last_rejection?.code).toBe('MERIDIAN_ERR_GATEWAY_CONFIG_UNSAFE');
      return st;
    }, WAIT);
    expect(s.config.last_rejection?.reason).toMatch(/config file .*routes\.yaml is empty/);
    expect(s.config).toMatchObject({ revision: 5, routes: 2 });
    expect(await gw.get('/a')).toBe(200);
    expect(await gw.get('/b')).toBe(200);
    expect(gw.output()).toMatch(/config rejected; the last good config keeps serving/);
    expect(snapshotOf(snapshot)).toMatchObject({ revision: 5, routes: [{ id: 'r0' }, { id: 'r1' }] });
  });

  it('restarted with the file still empty, boots the old routes from its snapshot', async () => {
    await gw.stop();
    expect(readFileSync(routes, 'utf8')).toBe('');
    await gw.start();
    await vi.waitFor(async () => expect(await gw.get('/a')).toBe(200), WAIT);
    const s = await gw.status();
    expect(s.config).toMatchObject({ origin: 'snapshot', revision: 5, routes: 2 });
    expect(s.config.last_rejection?.reason).toMatch(/is empty/);
    expect(snapshotOf(snapshot).revision).toBe(5);
  }, 90_000);

  it('refuses a revision lower than the one served', async () => {
    writeFileSync(routes, config(4, ['/a', '/b', '/c']));
    const s = await vi.waitFor(async () => {
      const st = await gw.status();
      expect(st.config.last_rejection?.reason).toMatch(/revision 4 is lower than the served revision 5/);
      return st;
    }, WAIT);
    expect(s.config.revision).toBe(5);
    expect(await gw.get('/c')).toBe(404);
    // The same revision with a change is a normal edit.
    writeFileSync(routes, config(5, ['/a', '/b', '/c']));
    await vi.waitFor(async () => expect(await gw.get('/c')).toBe(200), WAIT);
    expect((await gw.status()).config.origin).toBe('file');
  });

  it('refuses a file without routes unless it says allow_empty: true with a higher revision', async () => {
    writeFileSync(routes, config(6, []));
    await vi.waitFor(async () => expect((await gw.status()).config.last_rejection?.reason).toMatch(/no routes while 3 are served/), WAIT);
    writeFileSync(routes, config(5, [], { allow_empty: true }));
    await vi.waitFor(async () => expect((await gw.status()).config.last_rejection?.revision).toBe(5), WAIT);
    expect(await gw.get('/a')).toBe(200);
    expect(snapshotOf(snapshot).routes).toHaveLength(3);

    writeFileSync(routes, config(6, [], { allow_empty: true }));
    await vi.waitFor(async () => expect((await gw.status()).config).toMatchObject({ revision: 6, routes: 0, origin: 'file' }), WAIT);
    expect(await gw.get('/a')).toBe(404);
    await vi.waitFor(() => expect(snapshotOf(snapshot)).toMatchObject({ revision: 6, routes: [] }), WAIT);
  });
});

describe('regional etcd prefix', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  let gw: Gateway;
  // A folder that exists already, open to others: the gateway makes it private.
  const snapshot = join(dir, 'etcd-state', 'gw.snapshot.json');

  const seed = async (revision: number): Promise<void> => {
    await store.put(regionalKeys.resource('upstreams', 'u'), { id: 'u', nodes: [{ host: '127.0.0.1', port: up.port }] });
    await store.put(regionalKeys.resource('routes', 'a'), { id: 'a', paths: ['/a'], upstream_id: 'u' });
    await store.put(regionalKeys.revision(), { central_revision: revision, written_at: new Date().toISOString() });
  };

  beforeAll(async () => {
    etcd = await (await useServers()).etcd();
    store = new EtcdStore({ endpoints: [etcd.endpoint], timeoutMs: 2_000 });
    await seed(7);
    mkdirSync(dirname(snapshot), { mode: 0o755 });
    chmodSync(dirname(snapshot), 0o755);
    writeFileSync(snapshot, '{}', { mode: 0o644 });
    gw = await gateway(dir, 'etcd-gw', {
      node: { name: 'gw-etcd', cluster: 'c1', region: 'r1' },
      config: { source: 'etcd', etcd: { endpoints: [etcd.endpoint], timeout_ms: 1_000 }, snapshot_file: snapshot, debounce_ms: 20 },
    });
    await gw.start();
    await vi.waitFor(async () => expect(await gw.get('/a')).toBe(200), WAIT);
  });
  afterAll(async () => {
    await gw.stop();
    await store.stop();
  });

  it('makes an existing snapshot folder of its user 0700 and the snapshot 0600', async () => {
    await vi.waitFor(() => expect(snapshotOf(snapshot).revision).toBe(7), WAIT);
    expect(mode(snapshot).toString(8)).toBe('600');
    expect(mode(dirname(snapshot)).toString(8)).toBe('700');
  });

  it('refuses a wiped config/ prefix and keeps serving', async () => {
    await store.deletePrefix(regionalKeys.config());
    const s = await vi.waitFor(async () => {
      const st = await gw.status();
      expect(st.config.last_rejection?.reason).toMatch(/etcd prefix .*config\/ is empty/);
      return st;
    }, WAIT);
    expect(s.config).toMatchObject({ revision: 7, routes: 1 });
    expect(await gw.get('/a')).toBe(200);
    expect(snapshotOf(snapshot).routes).toHaveLength(1);
  });

  it('refuses a prefix without routes and without the controller\'s config/_revision, or with a lower one', async () => {
    await store.put(regionalKeys.resource('upstreams', 'u'), { id: 'u', nodes: [{ host: '127.0.0.1', port: up.port }] });
    await vi.waitFor(async () => expect((await gw.status()).config.last_rejection?.reason).toMatch(/revision 0 is lower than the served revision 7/), WAIT);
    await store.put(regionalKeys.revision(), { central_revision: 6, written_at: new Date().toISOString() });
    await vi.waitFor(async () => expect((await gw.status()).config.last_rejection?.reason).toMatch(/revision 6 is lower than the served revision 7/), WAIT);
    expect(await gw.get('/a')).toBe(200);
    // The controller writing the region again (same revision, same resources) is accepted as it was.
    await seed(7);
    await vi.waitFor(async () => expect((await gw.status()).config).toMatchObject({ origin: 'etcd', revision: 7, routes: 1 }), WAIT);
  });

  it('says source_connected: false while etcd is stopped, and true again once it is back', async () => {
    await vi.waitFor(async () => expect((await gw.status()).config.source_connected).toBe(true), WAIT);
    await etcd.stop();
    try {
      const s = await vi.waitFor(async () => {
        const st = await gw.status();
        expect(st.config.source_connected).toBe(false);
        return st;
      }, { timeout: 10_000, interval: 100 });
      expect(s.config.source_error?.reason).toMatch(/etcd/);
      expect(await gw.get('/a')).toBe(200);
    } finally {
      await etcd.start();
    }
    const s = await vi.waitFor(async () => {
      const st = await gw.status();
      expect(st.config.source_connected).toBe(true);
      return st;
    }, { timeout: 20_000, interval: 100 });
    expect(s.config.source_error).toBeUndefined();
    // And the watch carries changes again.
    await store.put(regionalKeys.resource('routes', 'b'), { id: 'b', paths: ['/b'], upstream_id: 'u' });
    await store.put(regionalKeys.revision(), { central_revision: 8, written_at: new Date().toISOString() });
    await vi.waitFor(async () => expect(await gw.get('/b')).toBe(200), WAIT);
  });
});

describe('the controller removing the last route of a region', () => {
  let ctl: Controller;
  let gw: Gateway;

  beforeAll(async () => {
    const servers = await useServers();
    const [central, regional] = await Promise.all([servers.etcd(), servers.etcd()]);
    ctl = await startController(central.endpoint);
    expect((await call(ctl.url, 'PUT', '/v1/regions/east', { body: { etcd: { endpoints: [regional.endpoint] }, clusters: [{ name: 'c1' }] } })).status).toBeLessThan(300);
    expect((await call(ctl.url, 'PUT', '/v1/upstreams/u', { body: { nodes: [{ host: '127.0.0.1', port: up.port }] } })).status).toBeLessThan(300);
    expect((await call(ctl.url, 'PUT', '/v1/routes/only', { body: { paths: ['/only'], upstream_id: 'u' } })).status).toBeLessThan(300);
    gw = await gateway(dir, 'ctl-gw', {
      node: { name: 'gw-ctl', cluster: 'c1', region: 'east' },
      config: { source: 'etcd', etcd: { endpoints: [regional.endpoint], timeout_ms: 1_000 }, snapshot_file: join(dir, 'ctl-state', 'gw.snapshot.json'), debounce_ms: 20 },
    });
    await gw.start();
    await vi.waitFor(async () => expect(await gw.get('/only')).toBe(200), { timeout: 30_000, interval: 200 });
  }, 60_000);
  afterAll(async () => {
    await gw.stop();
    await ctl?.stop();
  });

  it('is applied: the reconciler\'s higher config/_revision is the explicit mark', async () => {
    const before = (await gw.status()).config;
    expect((await call(ctl.url, 'DELETE', '/v1/routes/only')).status).toBeLessThan(300);
    await vi.waitFor(async () => expect(await gw.get('/only')).toBe(404), WAIT);
    const s = await gw.status();
    expect(s.config).toMatchObject({ routes: 0, origin: 'etcd' });
    expect(s.config.revision).toBeGreaterThan(before.revision);
    // Nothing refused on the way (a node that booted before the first reconcile saw an empty prefix then).
    expect(s.config.last_rejection).toEqual(before.last_rejection);
  });
});

describe('default snapshot path', () => {
  // Relative to the working directory, which spawnMeridian sets to the project root.
  const tag = randomBytes(4).toString('hex');
  const regions = [`east-${tag}`, `west-${tag}`];
  const gws: Gateway[] = [];
  afterAll(async () => {
    await Promise.all(gws.map((g) => g.stop()));
    const root = join(PROJECT_ROOT, '.meridian', 'gateway');
    for (const r of regions) rmSync(join(root, r), { recursive: true, force: true });
    if (existsSync(root) && readdirSync(root).length === 0) rmdirSync(root);
  });

  it('keeps every name one path segment under .meridian/gateway', () => {
    expect(defaultSnapshotFile({ region: '..', cluster: 'a/b', name: '../x' })).toBe(join('.meridian', 'gateway', '%2E%2E', 'a%2Fb', '%2E%2E%2Fx.snapshot.json'));
  });

  it('differs for two regions\' gw1 (no node boots on another region\'s routes)', async () => {
    for (const [i, region] of regions.entries()) {
      const file = join(dir, `default-${i}.yaml`);
      writeFileSync(file, JSON.stringify({ revision: 1, routes: [{ id: `only-${i}`, paths: [`/r${i}`], upstream: { nodes: [{ host: '127.0.0.1', port: up.port }] } }] }));
      gws.push(await gateway(dir, `default-gw-${i}`, { node: { name: 'gw1', region }, config: { source: 'file', file } }));
    }
    await Promise.all(gws.map((g) => g.start()));
    const files = await Promise.all(gws.map(async (g) => (await g.status()).config.snapshot_file));
    expect(new Set(files).size).toBe(2);
    for (const [i, f] of files.entries()) {
      expect(f).toBe(join(PROJECT_ROOT, '.meridian', 'gateway', regions[i] as string, 'default', 'gw1.snapshot.json'));
      await vi.waitFor(() => expect(existsSync(f) && snapshotOf(f).routes).toEqual([expect.objectContaining({ id: `only-${i}` })]), WAIT);
      expect(mode(f).toString(8)).toBe('600');
    }
  }, 90_000);
});
