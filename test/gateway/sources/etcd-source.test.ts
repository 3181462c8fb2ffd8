import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EtcdStore } from '../../../src/core/etcd-store.js';
import { regionalKeys } from '../../../src/core/keys.js';
import { EtcdConfigSource } from '../../../src/gateway/sources/etcd-source.js';
import { useServers } from '../../harness/index.js';

// The etcd source hands the primary a new snapshot per (debounced) change. A changed value is
// put into a copy of the last snapshot: the other resources stay the same objects, which the
// primary's check by change and the patches to the workers rely on.

type Snapshot = { revision: number; allow_empty: boolean; routes: Array<{ id: string; paths: string[] }>; upstreams: unknown[] };

describe('etcd config source (real etcd)', () => {
  let store: EtcdStore;
  let source: EtcdConfigSource;
  const snapshots: Snapshot[] = [];

  beforeAll(async () => {
    const etcd = await (await useServers()).etcd();
    store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/meridian-source' });
    await store.put(regionalKeys.resource('upstreams', 'up'), { id: 'up', nodes: [{ host: '127.0.0.1', port: 1 }] });
    for (const id of ['a', 'b', 'c']) await store.put(regionalKeys.resource('routes', id), { id, paths: [`/${id}`], upstream_id: 'up' });
    source = new EtcdConfigSource(store, { debounceMs: 10 });
    source.onSnapshot((raw) => snapshots.push(raw as Snapshot));
    await source.start();
  });

  afterAll(async () => {
    await source.stop();
    await store.stop();
  });

  const last = (): Snapshot => snapshots[snapshots.length - 1] as Snapshot;

  it('puts a changed value in place and keeps every other value and list as it was', async () => {
    await vi.waitFor(() => expect(last()?.routes.map((r) => r.id)).toEqual(['a', 'b', 'c']));
    const before = last();
    await store.put(regionalKeys.resource('routes', 'b'), { id: 'b', paths: ['/b2'], upstream_id: 'up' });
    await vi.waitFor(() => expect(last().routes[1]?.paths).toEqual(['/b2']));
    const after = last();
    expect(after.routes[0]).toBe(before.routes[0]);
    expect(after.routes[2]).toBe(before.routes[2]);
    expect(after.upstreams).toBe(before.upstreams);
    // The snapshot handed over before is not changed.
    expect(before.routes[1]?.paths).toEqual(['/b']);
  });

  it('takes the revision mark, and a key that comes or goes, into the next snapshot', async () => {
    await store.put(regionalKeys.revision(), { central_revision: 42 });
    await vi.waitFor(() => expect(last()).toMatchObject({ revision: 42, allow_empty: true }));
    await store.put(regionalKeys.resource('routes', 'ab'), { id: 'ab', paths: ['/ab'], upstream_id: 'up' });
    await vi.waitFor(() => expect(last().routes.map((r) => r.id)).toEqual(['a', 'ab', 'b', 'c']));
    // Positions moved with the new key: a change after it lands on the right resource.
    await store.put(regionalKeys.resource('routes', 'c'), { id: 'c', paths: ['/c2'], upstream_id: 'up' });
    await vi.waitFor(() => expect(last().routes[3]?.paths).toEqual(['/c2']));
    await store.delete(regionalKeys.resource('routes', 'a'));
    await vi.waitFor(() => expect(last().routes.map((r) => r.id)).toEqual(['ab', 'b', 'c']));
    await store.put(regionalKeys.resource('routes', 'b'), { id: 'b', paths: ['/b3'], upstream_id: 'up' });
    await vi.waitFor(() => expect(last().routes.map((r) => r.paths[0])).toEqual(['/ab', '/b3', '/c2']));
    expect(last().revision).toBe(42);
  });
});
