import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { useServers } from '../harness/index.js';
import { EtcdStore } from '../../src/core/etcd-store.js';
import { centralKeys } from '../../src/core/keys.js';
import { trimAudit } from '../../controller/store/audit-retention.js';
import type { Controller } from '../../controller/controller.js';
import { call, startController } from './helpers.js';

// The audit log's retention against real etcd: trimAudit itself, then the leader's periodic
// trim in a running controller and the audit API over what is left.
const servers = await useServers();
const DAY = 86_400_000;
let endpoint = '';

beforeAll(async () => {
  endpoint = (await servers.etcd()).endpoint;
});

/** A store on its own prefix, with records written as the controller writes them (key = time). */
async function storeWith(prefix: string, times: Date[]): Promise<EtcdStore> {
  const store = new EtcdStore({ endpoints: [endpoint], prefix });
  await store.start();
  for (const [i, at] of times.entries()) {
    const record = { at: at.toISOString(), who: 'seed', role: 'admin', action: 'create', kind: 'upstreams', id: `seed-${i}` };
    await store.client.put(store.full(centralKeys.audit(`${record.at}-${randomBytes(4).toString('hex')}`))).value(JSON.stringify(record));
  }
  return store;
}
const ids = async (store: EtcdStore): Promise<string[]> => {
  const all = await store.client.getAll().prefix(store.full(centralKeys.audit(''))).strings();
  return Object.keys(all).sort().map((k) => (JSON.parse(all[k] as string) as { id: string }).id);
};

describe('trimAudit', () => {
  const stores: EtcdStore[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const s of stores.splice(0)) await s.stop();
  });

  it('deletes the records older than max age, oldest first, in transactions of at most `batch` keys; recent ones stay', async () => {
    const now = Date.parse('2026-06-01T00:00:00Z');
    // 250 records of 2025 (older than 90 days), then 5 of the last day.
    const times = [...Array.from({ length: 250 }, (_, i) => new Date(Date.parse('2025-01-01T00:00:00Z') + i * 1000)), ...Array.from({ length: 5 }, (_, i) => new Date(now - DAY + i * 1000))];
    const store = await storeWith('/trim-age', times);
    stores.push(store);
    const txns = vi.spyOn(store.client, 'if');
    const deletes = vi.spyOn(store.client, 'delete');
    expect(await trimAudit(store, { maxRecords: 1_000, maxAgeMs: 90 * DAY }, { now, batch: 100 })).toBe(250);
    expect(txns).toHaveBeenCalledTimes(3);
    expect(deletes).toHaveBeenCalledTimes(250);
    expect(await ids(store)).toEqual(['seed-250', 'seed-251', 'seed-252', 'seed-253', 'seed-254']);
    // Nothing left past the retention: a second trim deletes nothing.
    expect(await trimAudit(store, { maxRecords: 1_000, maxAgeMs: 90 * DAY }, { now, batch: 100 })).toBe(0);
  });

  it('keeps the newest max_records records', async () => {
    const now = Date.now();
    const store = await storeWith('/trim-count', Array.from({ length: 12 }, (_, i) => new Date(now - 60_000 + i * 1000)));
    stores.push(store);
    expect(await trimAudit(store, { maxRecords: 5, maxAgeMs: 90 * DAY }, { batch: 3 })).toBe(7);
    expect(await ids(store)).toEqual(['seed-7', 'seed-8', 'seed-9', 'seed-10', 'seed-11']);
  });

  it('stops between batches when told to (the leader stepped down)', async () => {
    const store = await storeWith('/trim-stop', Array.from({ length: 10 }, (_, i) => new Date(Date.parse('2020-01-01T00:00:00Z') + i * 1000)));
    stores.push(store);
    let batches = 0;
    expect(await trimAudit(store, { maxRecords: 1_000, maxAgeMs: DAY }, { batch: 4, keepGoing: () => batches++ < 1 })).toBe(4);
    expect((await ids(store)).length).toBe(6);
  });
});

describe('the leader trims the audit log', () => {
  let ctl: Controller | undefined;
  afterAll(async () => {
    await ctl?.stop();
  });

  it('old records go, the newest max_records stay, and GET /v1/audit lists them in order', async () => {
    const prefix = '/trim-leader';
    const seeded = await storeWith(prefix, [new Date('2020-01-01T00:00:00Z'), new Date('2020-01-02T00:00:00Z')]);
    await seeded.stop();
    ctl = await startController(endpoint, { etcd: { endpoints: [endpoint], prefix }, audit: { max_records: 4, max_age_days: 30, trim_interval_s: 1 } });
    const base = ctl.url;
    // Elected: the first trim runs at once and takes the records of 2020.
    await expect.poll(async () => (await call<{ items: Array<{ id: string }> }>(base, 'GET', '/v1/audit?limit=100')).body.items.map((i) => i.id), { timeout: 15_000 }).toEqual([]);
    for (let i = 1; i <= 7; i++) expect((await call(base, 'PUT', `/v1/upstreams/u${i}`, { body: { nodes: [{ host: '127.0.0.1', port: i } ] } })).status).toBe(201);
    // Within a period or two, the oldest three of the seven go.
    await expect.poll(async () => (await call<{ items: Array<{ id: string }> }>(base, 'GET', '/v1/audit?limit=100')).body.items.map((i) => i.id), { timeout: 15_000 }).toEqual(['u4', 'u5', 'u6', 'u7']);
    const last = await call<{ items: Array<Record<string, unknown>> }>(base, 'GET', '/v1/audit?limit=2');
    expect(last.body.items.map((i) => [i.action, i.id])).toEqual([['create', 'u6'], ['create', 'u7']]);
    expect(last.body.items[1]).toMatchObject({ after: { id: 'u7', nodes: [{ port: 7 }] } });
  });
});
