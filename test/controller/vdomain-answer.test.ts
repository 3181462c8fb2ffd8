import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocateLoopback, eventually, useServers } from '../harness/index.js';
import { stopMeridian } from '../harness/cli.js';
import type { Controller } from '../../controller/controller.js';
import type { VDomainAnswer } from '../../controller/vdomains/dns-answer.js';
import { ecsOption } from '../../controller/vdomains/dns-query.js';
import { call, startController } from './helpers.js';
import { spawnDns } from './dns-process.js';

// GET /v1/vdomains/{id}/answer against a real `meridian dns` process: the answer a client in
// each region gets, asked with the region's client subnet (ECS), and which server gave it.
const servers = await useServers();
const dir = mkdtempSync(join(tmpdir(), 'meridian-vdomain-answer-'));
let ctl: Controller;
let lonely: Controller;
let dns: Awaited<ReturnType<typeof spawnDns>>;
/** A loopback address where no DNS server listens: asked first, it times out. */
let silent: string;
const nodeAddress = { east: '', west: '' };

const answer = (id: string, region: string, c = ctl) => call<VDomainAnswer & { code?: string; message?: string }>(c.url, 'GET', `/v1/vdomains/${id}/answer?region=${region}`);
const allocate = async (policy: unknown): Promise<string> => (await call<{ id: string }>(ctl.url, 'POST', '/v1/vdomains', { body: { policy, records: 1, ttl: 7 } })).body.id;

beforeAll(async () => {
  const central = await servers.etcd();
  dns = await spawnDns({ dir, etcd: central.endpoint });
  silent = `${await allocateLoopback([5300], [5300])}:5300`;
  ctl = await startController(central.endpoint, { dns: { servers: [silent, dns.server], timeout_ms: 300 } });
  lonely = await startController(central.endpoint, { node_id: 'no-dns' });
  nodeAddress.east = await allocateLoopback([]);
  nodeAddress.west = await allocateLoopback([]);
  for (const [name, cidr, failover] of [['east', '10.11.0.0/16', ['west']], ['west', '10.12.0.0/16', ['east']]] as const) {
    const r = await call(ctl.url, 'PUT', `/v1/regions/${name}`, { body: { cidrs: [{ cidr }], failover, clusters: [{ name: 'c1', nodes: [{ name: 'gw1', address: nodeAddress[name], port: 80, admin: `http://${nodeAddress[name]}:9080` }] }] } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
  await eventually(async () => (await fetch(dns.healthz).catch(() => undefined))?.status === 200, 30_000, 200);
}, 60_000);
afterAll(async () => {
  await stopMeridian(dns?.child);
  await lonely?.stop();
  await ctl?.stop();
});

describe('GET /v1/vdomains/{id}/answer: the DNS servers\' answer for a client in a region', () => {
  it('nearest: each region\'s client gets its own region\'s node, with the subnet sent, the scope and the server that answered', async () => {
    const id = await allocate({ type: 'nearest' });
    // The DNS server sees the new virtual domain through its etcd watch.
    const east = await eventually(async () => { const r = await answer(id, 'east'); return r.status === 200 && r.body.records.length > 0 ? r : undefined; }, 10_000, 100);
    expect(east.body).toMatchObject({
      vdomain: id, region: 'east', client_subnet: '10.11.0.0/16', server: dns.server, rcode: 'NOERROR', authoritative: true, scope: 16, transport: 'udp',
      records: [{ type: 'A', ttl: 7, value: nodeAddress.east }],
    });
    expect(east.body.name).toBe(`${id}.gw.example.net`);
    // The first server listed does not answer: it is named with its error, the next one answered.
    expect(east.body.failed).toEqual([{ server: silent, error: 'no answer within 300 ms' }]);
    const west = await answer(id, 'west');
    expect(west.body).toMatchObject({ client_subnet: '10.12.0.0/16', records: [{ type: 'A', value: nodeAddress.west }] });
  });

  it('failover east → west: the client in west gets east; region and virtual domain must exist', async () => {
    const id = await allocate({ type: 'failover', regions: ['east', 'west'] });
    const west = await eventually(async () => { const r = await answer(id, 'west'); return r.status === 200 && r.body.records.length > 0 ? r : undefined; }, 10_000, 100);
    expect(west.body.records.map((r) => r.value)).toEqual([nodeAddress.east]);
    expect((await answer(id, 'north')).body.code).toBe('MERIDIAN_ERR_CONTROLLER_NOT_FOUND');
    expect((await answer('00000000-0000-4000-8000-000000000000', 'east')).status).toBe(404);
    const none = await call<{ code: string }>(ctl.url, 'GET', `/v1/vdomains/${id}/answer`);
    expect([none.status, none.body.code]).toEqual([400, 'MERIDIAN_ERR_CONTROLLER_INVALID']);
    // The generic GET of a virtual domain is still served next to /answer.
    expect((await call(ctl.url, 'GET', `/v1/vdomains/${id}`)).body).toMatchObject({ uuid: id });
  });

  it('no DNS server configured, or none answering: a coded 503 naming each server\'s error', async () => {
    const id = await allocate({ type: 'nearest' });
    const none = await answer(id, 'east', lonely);
    expect([none.status, none.body.code]).toEqual([503, 'MERIDIAN_ERR_CONTROLLER_NO_DNS_SERVERS']);
    dns.child.kill('SIGSTOP');
    try {
      const down = await answer(id, 'east');
      expect([down.status, down.body.code]).toEqual([503, 'MERIDIAN_ERR_CONTROLLER_DNS_UNREACHABLE']);
      expect(down.body.message).toBe(`no DNS server answered for ${id}.gw.example.net: ${silent}: no answer within 300 ms; ${dns.server}: no answer within 300 ms`);
    } finally {
      dns.child.kill('SIGCONT');
    }
  });

  it('the ECS option carries only the prefix\'s bytes, host bits zeroed (the server refuses others)', () => {
    expect(ecsOption('10.11.7.9/16').toString('hex')).toBe('000800060001' + '10' + '00' + '0a0b');
    expect(ecsOption('10.11.255.0/20').toString('hex')).toBe('000800070001' + '14' + '00' + '0a0bf0');
    expect(ecsOption('2001:db8:ff::1/36').toString('hex')).toBe('000800090002' + '24' + '00' + '20010db800');
  });
});
