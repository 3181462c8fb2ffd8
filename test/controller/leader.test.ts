import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, freePort, useServers } from '../harness/index.js';
import { spawnMeridian } from '../harness/cli.js';
import { EtcdStore } from '../../src/core/etcd-store.js';
import { sha256Hex } from '../../controller/api/auth.js';
import { call, TOKENS } from './helpers.js';

const servers = await useServers();
const dir = mkdtempSync(join(tmpdir(), 'meridian-leader-'));
const children: Array<ReturnType<typeof spawnMeridian>> = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

interface Leader {
  id: string | null;
  is_me: boolean;
}

describe('high availability', () => {
  it('two `meridian controller` replicas: both serve the API, one leads; SIGKILL of the leader hands over within a few seconds', async () => {
    const [central, regionEtcd] = await Promise.all([servers.etcd(), servers.etcd()]);
    const replicas = await Promise.all(['a', 'b'].map(async (name) => {
      const port = await freePort();
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, stringify({
        listen: `127.0.0.1:${port}`, node_id: `replica-${name}`, etcd: { endpoints: [central.endpoint] },
        tokens: [{ name: 'ops', sha256: sha256Hex(TOKENS.admin), role: 'admin' }], leader: { ttl_s: 2 },
      }));
      const child = spawnMeridian(['controller', '-c', file], { MERIDIAN_LOG_LEVEL: 'warn' });
      children.push(child);
      return { name, url: `http://127.0.0.1:${port}`, child };
    }));
    const leaderOf = async (url: string) => (await call<Leader>(url, 'GET', '/v1/leader')).body;
    await eventually(async () => {
      const all = await Promise.all(replicas.map((r) => leaderOf(r.url)));
      return all.every((l) => l.id !== null && l.id === all[0]?.id) && all.filter((l) => l.is_me).length === 1;
    }, 30_000, 200);
    const leaderName = (await leaderOf(replicas[0]!.url)).id;
    const leader = replicas.find((r) => `replica-${r.name}` === leaderName)!;
    const follower = replicas.find((r) => r !== leader)!;

    // The follower serves writes too; the leader's reconciler pushes them.
    expect((await call(follower.url, 'PUT', '/v1/regions/east', { body: { etcd: { endpoints: [regionEtcd.endpoint] } } })).status).toBe(201);
    const regional = new EtcdStore({ endpoints: [regionEtcd.endpoint] });
    try {
      await call(follower.url, 'PUT', '/v1/upstreams/before', { body: { nodes: [{ host: '127.0.0.1', port: 1 }] } });
      await eventually(async () => (await regional.get('config/upstreams/before')) !== undefined, 10_000);

      leader.child.kill('SIGKILL');
      const killedAt = Date.now();
      await eventually(async () => (await leaderOf(follower.url)).is_me, 15_000, 100);
      const failoverMs = Date.now() - killedAt;
      console.log(`[leader] failover after SIGKILL of the leader: ${failoverMs} ms (lease TTL 2 s)`);
      expect(failoverMs).toBeLessThan(6_000);

      // The new leader runs the reconciler.
      await call(follower.url, 'PUT', '/v1/upstreams/after', { body: { nodes: [{ host: '127.0.0.1', port: 2 }] } });
      await eventually(async () => (await regional.get('config/upstreams/after')) !== undefined, 10_000);

      // A clean stop (SIGTERM) resigns at once instead of waiting for the TTL.
      follower.child.kill('SIGTERM');
      await eventually(() => follower.child.exitCode !== null, 10_000);
      expect(follower.child.exitCode).toBe(0);
      const central2 = new EtcdStore({ endpoints: [central.endpoint] });
      try {
        expect(await central2.get('controller/leader')).toBeUndefined();
      } finally {
        await central2.stop();
      }
    } finally {
      await regional.stop();
    }
  }, 90_000);
});
