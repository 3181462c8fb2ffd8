import { describe, expect, it } from 'vitest';
import { ID_MAX_LENGTH } from '../../src/core/model/index.js';
import { call, controllerForFile } from './helpers.js';

// Issue 16 items 10 and 12, issue 17 item 8: what the controller API refuses, against real etcd.
const env = controllerForFile({ upstream: true });

describe('request bodies', () => {
  it('JSON nested deeper than 64 levels is a coded 400, not a 500 stack overflow', async () => {
    const deepLabels = `{"paths":["/d"],"upstream_id":"u","labels":${'{"a":'.repeat(3_000)}"x"${'}'.repeat(3_000)}}`;
    const brackets = '['.repeat(100_000);
    for (const body of [deepLabels, brackets]) {
      const r = await call(env.base, 'PUT', '/v1/routes/deep', { body });
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_JSON_TOO_DEEP', message: 'request body nests objects and arrays deeper than 64 levels' });
    }
    // Brackets inside strings are text, not nesting.
    const text = await call(env.base, 'PUT', '/v1/routes/deep', { body: { paths: ['/d'], upstream_id: 'u', labels: { a: '['.repeat(10_000) } } });
    expect(text.status).toBe(201);
  });

  it(`ids up to ${ID_MAX_LENGTH} characters can be created, read, replaced and deleted`, async () => {
    for (const length of [100, 101, ID_MAX_LENGTH]) {
      const id = `u${'x'.repeat(length - 1)}`;
      expect((await call(env.base, 'PUT', `/v1/upstreams/${id}`, { body: { nodes: [{ host: '127.0.0.1', port: 1 }] } })).status, `${length}`).toBe(201);
      expect((await call(env.base, 'GET', `/v1/upstreams/${id}`)).status, `${length}`).toBe(200);
      expect((await call(env.base, 'PUT', `/v1/upstreams/${id}`, { body: { nodes: [{ host: '127.0.0.1', port: 2 }] } })).body.result, `${length}`).toBe('updated');
      expect((await call(env.base, 'DELETE', `/v1/upstreams/${id}`)).status, `${length}`).toBe(200);
    }
    const tooLong = await call(env.base, 'POST', '/v1/upstreams', { body: { id: 'x'.repeat(ID_MAX_LENGTH + 1), nodes: [{ host: '127.0.0.1', port: 1 }] } });
    expect(tooLong.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_INVALID', message: `invalid upstream: id: must be at most ${ID_MAX_LENGTH} characters`, field: 'id' });
  });

  it('the audit log keeps the value before and after a change, and names what changed', async () => {
    await call(env.base, 'PUT', '/v1/upstreams/audited', { body: { nodes: [{ host: '127.0.0.1', port: 10 }] } });
    await call(env.base, 'PUT', '/v1/upstreams/audited', { body: { nodes: [{ host: '127.0.0.1', port: 11 }], retries: 3 } });
    await call(env.base, 'DELETE', '/v1/upstreams/audited');
    const { items } = (await call<{ items: Array<Record<string, unknown>> }>(env.base, 'GET', '/v1/audit?limit=3')).body;
    expect(items.map((i) => i.action)).toEqual(['create', 'update', 'delete']);
    expect(items[0]).toMatchObject({ after: { id: 'audited', nodes: [{ port: 10 }] } });
    expect(items[1]).toMatchObject({ before: { nodes: [{ port: 10 }], retries: 1 }, after: { nodes: [{ port: 11 }], retries: 3 }, changed: ['nodes[0].port', 'retries'] });
    expect(items[2]).toMatchObject({ before: { nodes: [{ port: 11 }] } });
    expect(items[2]?.after).toBeUndefined();

    // A large value is summarised, not kept whole.
    const big = { paths: ['/big'], upstream_id: 'u', labels: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`label-${i}`, 'v'.repeat(40)])) };
    await call(env.base, 'PUT', '/v1/routes/big', { body: big });
    const last = (await call<{ items: Array<Record<string, unknown>> }>(env.base, 'GET', '/v1/audit?limit=1')).body.items[0];
    expect(last?.after).toMatch(/^<omitted: \d+ bytes, over the 8192-byte audit limit>$/);
  });
});

describe('route checks', () => {
  it('vars regexes that can backtrack super-linearly are refused with the field named', async () => {
    const hostile = ['^(a+)+$', '(a|a)*', '(\\w+\\s?)*$', '(a)\\1'];
    for (const [i, pattern] of hostile.entries()) {
      const r = await call(env.base, 'PUT', `/v1/routes/redos-${i}`, { body: { paths: ['/r'], upstream_id: 'u', vars: [{ source: 'header', name: 'x-a', op: 'eq', value: 'ok' }, { source: 'header', name: 'x-b', op: 'regex', value: pattern }] } });
      expect(r.status, pattern).toBe(400);
      expect(r.body.code, pattern).toBe('MERIDIAN_ERR_CONTROLLER_INVALID');
      expect(r.body.message, pattern).toMatch(/^invalid route: vars\[1\]\.value: .*can backtrack super-linearly/);
      expect(r.body.field, pattern).toBe('vars[1].value');
    }
    const split = await call(env.base, 'PUT', '/v1/routes/redos-split', { body: { paths: ['/r'], upstream_id: 'u', split: { upstream_id: 'u', match: [{ source: 'cookie', name: 'c', op: 'regex', value: '^(a+)+$' }] } } });
    expect(split.body.message).toMatch(/^invalid route: split\.match\[0\]\.value: nested quantifier/);
    expect(split.body.field).toBe('split.match[0].value');
    for (const [i, pattern] of ['^v[0-9]+$', '^(beta|canary)$'].entries()) {
      const ok = await call(env.base, 'PUT', `/v1/routes/safe-${i}`, { body: { paths: ['/r'], upstream_id: 'u', vars: [{ source: 'header', name: 'x-v', op: 'regex', value: pattern }] } });
      expect(ok.status, pattern).toBe(201);
    }
  });

  it('paths with an empty or a repeated parameter name are refused', async () => {
    const empty = await call(env.base, 'PUT', '/v1/routes/p-empty', { body: { paths: ['/a/:/b'], upstream_id: 'u' } });
    expect(empty.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_INVALID', message: 'invalid route: paths[0]: /a/:/b: empty parameter name at position 3', field: 'paths[0]' });
    const twice = await call(env.base, 'PUT', '/v1/routes/p-twice', { body: { paths: ['/ok', '/u/:id/:id'], upstream_id: 'u' } });
    expect(twice.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_INVALID', message: 'invalid route: paths[1]: /u/:id/:id: parameter :id appears twice', field: 'paths[1]' });
    expect((await call(env.base, 'PUT', '/v1/routes/p-ok', { body: { paths: ['/u/:id/:name', '/t/::x/:y'], upstream_id: 'u' } })).status).toBe(201);
  });
});
