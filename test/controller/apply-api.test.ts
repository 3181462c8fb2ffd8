import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServers } from '../harness/index.js';
import type { Controller } from '../../controller/controller.js';
import { APPLY_MAX_TXN_OPS } from '../../controller/store/apply-set.js';
import { call, startController, TOKENS } from './helpers.js';

const servers = await useServers();
let ctl: Controller;
const apply = (body: unknown, token: string = TOKENS.admin) => call<{ code?: string; message?: string; field?: string; resource?: string; items?: Array<{ kind: string; id: string; result: string }> }>(ctl.url, 'POST', '/v1/apply', { token, body });
const upstream = (id: string) => ({ kind: 'upstreams', spec: { id, nodes: [{ host: '127.0.0.1', port: 1 }] } });

beforeAll(async () => {
  ctl = await startController((await servers.etcd()).endpoint);
});
afterAll(async () => {
  await ctl?.stop();
});

describe('POST /v1/apply', () => {
  it('writes the set in one etcd transaction with one audit record per change', async () => {
    const before = await ctl.central.revision();
    const r = await apply({ resources: [{ kind: 'routes', spec: { id: 'r1', paths: ['/r1'], upstream_id: 'u1' } }, upstream('u1')] });
    expect(r.status).toBe(200);
    expect(r.body.items?.map((i) => `${i.kind}/${i.id}:${i.result}`)).toEqual(['routes/r1:created', 'upstreams/u1:created']);
    // One transaction: one revision step, and both keys carry it.
    expect(await ctl.central.revision()).toBe(before + 1);
    expect((await ctl.service.get('routes', 'r1'))?.revision).toBe(before + 1);
    expect((await ctl.service.get('upstreams', 'u1'))?.revision).toBe(before + 1);
    const audit = await ctl.service.audit(2);
    expect(audit.map((a) => `${a.action} ${a.kind}/${a.id} ${a.detail ?? ''}`).sort()).toEqual(['create routes/r1 apply', 'create upstreams/u1 apply']);
  });

  it('checks each change against its kind\'s write role; an unchanged admin kind needs none', async () => {
    await apply({ resources: [{ kind: 'regions', spec: { name: 'east' } }] });
    const unchanged = await apply({ resources: [{ kind: 'regions', spec: { name: 'east' } }] }, TOKENS.write);
    expect(unchanged.status).toBe(200);
    const before = await ctl.central.revision();
    const changed = await apply({ resources: [upstream('u-w'), { kind: 'regions', spec: { name: 'east', drained: true } }] }, TOKENS.write);
    expect(changed.status).toBe(403);
    expect(changed.body.code).toBe('MERIDIAN_ERR_CONTROLLER_FORBIDDEN');
    expect((await apply({ resources: [] }, TOKENS.read)).status).toBe(403);
    expect(await ctl.central.revision()).toBe(before);
  });

  it('refuses malformed sets with coded errors naming the resource', async () => {
    expect((await apply({ resources: [upstream('d'), upstream('d')] })).body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_APPLY_INVALID', message: 'invalid apply request: upstreams/d is named twice', field: 'resources[1]' });
    expect((await apply({ resources: [{ kind: 'gizmos', spec: {} }] })).body).toMatchObject({ code: 'MERIDIAN_ERR_CONTROLLER_APPLY_INVALID', field: 'resources[0].kind' });
    expect((await apply({ resources: [], prune: { kinds: ['nope'] } })).body.code).toBe('MERIDIAN_ERR_CONTROLLER_APPLY_INVALID');
    expect((await apply({ resources: [], extra: 1 })).status).toBe(400);
    const bad = await apply({ resources: [upstream('ok'), { kind: 'upstreams', spec: { id: 'bad', nodes: 'x' } }] });
    expect(bad.status).toBe(400);
    // The field is within the resource named.
    expect(bad.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_INVALID', message: 'upstreams/bad: invalid upstream: nodes: must be an array, got string "x"', field: 'nodes', resource: 'upstreams/bad' });
  });

  it('refuses, whole, a set larger than one etcd transaction can hold', async () => {
    const before = await ctl.central.revision();
    const many = Array.from({ length: APPLY_MAX_TXN_OPS / 2 + 1 }, (_, i) => upstream(`many-${i}`));
    const r = await apply({ resources: many });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('MERIDIAN_ERR_CONTROLLER_APPLY_TOO_LARGE');
    expect(await ctl.central.revision()).toBe(before);
    // The same set split in two fits; re-sending it whole is then all unchanged, which costs nothing.
    expect((await apply({ resources: many.slice(0, 40) })).status).toBe(200);
    expect((await apply({ resources: many.slice(40) })).status).toBe(200);
    const again = await apply({ resources: many });
    expect(again.status).toBe(200);
    expect(again.body.items?.every((i) => i.result === 'unchanged')).toBe(true);
  });
});
