import { describe, expect, it } from 'vitest';
import { allocateVDomain } from '../../controller/vdomains/allocate.js';
import { RESOURCES } from '../../src/core/model/index.js';
import { call, controllerForFile, TOKENS } from './helpers.js';

const env = controllerForFile();

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';

describe('authentication and roles', () => {
  it('no token or a bad token is 401; a low role is 403; public endpoints need none', async () => {
    const none = await call(env.base, 'GET', '/v1/routes', { token: null });
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_UNAUTHORIZED', message: 'missing or invalid bearer token' });
    expect((await call(env.base, 'GET', '/v1/routes', { token: 'not-a-token' })).status).toBe(401);
    expect((await call(env.base, 'GET', '/v1/routes', { token: TOKENS.read })).status).toBe(200);

    const readWrite = await call(env.base, 'PUT', '/v1/upstreams/u-auth', { token: TOKENS.read, body: { nodes: [{ host: '127.0.0.1', port: 1 }] } });
    expect(readWrite.status).toBe(403);
    expect(readWrite.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_FORBIDDEN', message: 'token read-user has role read; put needs role write' });
    // Regions shape the whole platform: write is not enough.
    const region = await call(env.base, 'PUT', '/v1/regions/r-auth', { token: TOKENS.write, body: {} });
    expect(region.status).toBe(403);
    expect(region.body.message).toBe('token write-user has role write; write regions needs role admin');
    expect((await call(env.base, 'GET', '/v1/audit', { token: TOKENS.write })).status).toBe(403);

    expect((await call(env.base, 'GET', '/openapi.json', { token: null })).status).toBe(200);
    expect((await call(env.base, 'GET', '/healthz', { token: null })).status).toBe(200);
  });

  it('ssl private keys are shown to admins only', async () => {
    expect((await call(env.base, 'PUT', '/v1/ssl/s1', { body: { snis: ['a.example'], cert: CERT, key: 'SECRET' } })).status).toBe(201);
    expect((await call(env.base, 'GET', '/v1/ssl/s1')).body.key).toBe('SECRET');
    expect((await call(env.base, 'GET', '/v1/ssl/s1', { token: TOKENS.read })).body.key).toBe('<redacted: admin only>');
  });
});

describe('validation of every kind', () => {
  // One valid and one invalid body per kind, with the exact message and field the API must answer.
  const cases: Array<{ kind: keyof typeof RESOURCES; id: string; valid: unknown; invalid: unknown; message: string; field: string }> = [
    { kind: 'upstreams', id: 'v-up', valid: { nodes: [{ host: '127.0.0.1', port: 8080 }] }, invalid: { nodes: [{ host: '127.0.0.1', port: 70000 }] }, message: 'invalid upstream: nodes[0].port: must be <= 65535, got 70000', field: 'nodes[0].port' },
    { kind: 'routes', id: 'v-route', valid: { paths: ['/v'], upstream_id: 'v-up' }, invalid: { upstream_id: 'v-up' }, message: 'invalid route: paths: is required', field: 'paths' },
    { kind: 'consumers', id: 'v-user', valid: { plugins: {} }, invalid: { plugins: {}, password: 'x' }, message: 'invalid consumer: password: unknown key', field: 'password' },
    { kind: 'ssl', id: 'v-ssl', valid: { snis: ['*.v.example'], cert: CERT, key: 'K' }, invalid: { snis: [], cert: CERT, key: 'K' }, message: 'invalid ssl: snis: must have at least 1 item(s)', field: 'snis' },
    { kind: 'global_rules', id: 'v-rule', valid: { plugins: { cors: {} } }, invalid: { plugins: 'cors' }, message: 'invalid global_rule: plugins: must be an object, got string "cors"', field: 'plugins' },
    { kind: 'regions', id: 'v-region', valid: { clusters: [{ name: 'c1' }] }, invalid: { cidrs: [{ cidr: 'ten/8' }] }, message: 'invalid region: cidrs[0].cidr: "ten/8" does not match ^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9a-fA-F:]+)/[0-9]{1,3}$', field: 'cidrs[0].cidr' },
    { kind: 'vdomains', id: '3f1c2b1e-1d2a-4c3b-8a4d-5e6f7a8b9c0d', valid: { policy: { type: 'nearest' } }, invalid: { policy: { type: 'closest' } }, message: 'invalid vdomain: policy.type: must be one of "nearest", "pinned", "weighted", "failover", got string "closest"', field: 'policy.type' },
    { kind: 'bindings', id: 'v.shop.example', valid: { vdomain: '3f1c2b1e-1d2a-4c3b-8a4d-5e6f7a8b9c0d' }, invalid: { vdomain: '' }, message: 'invalid binding: vdomain: must be at least 1 characters', field: 'vdomain' },
    { kind: 'deployments', id: 'v-dep', valid: { kind: 'backend', route: 'v-route', from: 'v-up', to: 'v-up2' }, invalid: { kind: 'backend', route: 'v-route', from: 'v-up', to: 'v-up2', steps: [5, 150] }, message: 'invalid deployment: steps[1]: must be <= 100, got 150', field: 'steps[1]' },
  ];

  it('each kind: a bad body is 400 with the coded, exact message and the field; a good one is stored with defaults and an ETag', async () => {
    await call(env.base, 'PUT', '/v1/upstreams/v-up2', { body: { nodes: [{ host: '127.0.0.1', port: 8081 }] } });
    for (const c of cases) {
      const bad = await call(env.base, 'PUT', `/v1/${c.kind}/${c.id}`, { body: c.invalid });
      expect(bad.status, c.kind).toBe(400);
      expect(bad.body, c.kind).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_INVALID', message: c.message, field: c.field });
      const good = await call(env.base, 'PUT', `/v1/${c.kind}/${c.id}`, { body: c.valid });
      expect(good.status, `${c.kind}: ${JSON.stringify(good.body)}`).toBe(201);
      const got = await call(env.base, 'GET', `/v1/${c.kind}/${c.id}`);
      expect(got.headers.get('etag')).toBe(`"${String(good.body.revision)}"`);
      expect(got.body[RESOURCES[c.kind].key]).toBe(c.id);
    }
    // Defaults from the schema are stored.
    expect((await call(env.base, 'GET', '/v1/routes/v-route')).body).toMatchObject({ priority: 0, enabled: true });
    expect((await call(env.base, 'GET', '/v1/deployments/v-dep')).body).toMatchObject({ state: 'pending', step: -1, steps: [5, 25, 100] });
    expect((await call(env.base, 'GET', '/v1/vdomains/3f1c2b1e-1d2a-4c3b-8a4d-5e6f7a8b9c0d')).body.name).toBe('3f1c2b1e-1d2a-4c3b-8a4d-5e6f7a8b9c0d.gw.example.net');
  });

  it('malformed JSON, an id that disagrees with the URL, unknown kinds and semantic rules', async () => {
    expect((await call(env.base, 'PUT', '/v1/routes/x', { body: '{"paths":' })).body.code).toBe('MERIDIAN_ERR_CONTROLLER_BAD_JSON');
    const mismatch = await call(env.base, 'PUT', '/v1/routes/x', { body: { id: 'y', paths: ['/'] } });
    expect(mismatch.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_KEY_MISMATCH', message: 'invalid route: id "y" does not match the id "x" in the URL', field: 'id' });
    expect((await call(env.base, 'GET', '/v1/widgets')).status).toBe(404);
    const wildcard = await call(env.base, 'PUT', '/v1/routes/bad-path', { body: { paths: ['/ok', '/files/*.txt'], upstream_id: 'v-up2' } });
    expect(wildcard.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_INVALID', message: 'invalid route: paths[1]: /files/*.txt: Wildcard must be the last character in the route', field: 'paths[1]' });
    expect((await call(env.base, 'GET', '/v1/routes/bad-path')).status).toBe(404);
    const weighted = await call(env.base, 'POST', '/v1/vdomains', { body: { policy: { type: 'weighted' } } });
    expect(weighted.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_INVALID', message: 'invalid vdomain: policy.weights: weighted needs at least one cluster with a weight above 0', field: 'policy.weights' });
    const gw = await call(env.base, 'PUT', '/v1/deployments/bad-gw', { body: { kind: 'gateway', from: 'a/b', to: 'a/c' } });
    expect(gw.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_DEPLOY_INVALID', message: 'invalid deployment bad-gw: a gateway deployment needs vdomain', field: 'vdomain' });
    const zoned = await call(env.base, 'PUT', '/v1/bindings/x.gw.example.net', { body: { vdomain: '3f1c2b1e-1d2a-4c3b-8a4d-5e6f7a8b9c0d' } });
    expect([zoned.status, zoned.body.code, zoned.body.field]).toEqual([400, 'MERIDIAN_ERR_CONTROLLER_BINDING_ZONE', 'domain']);
    // A body refused as a whole names no field.
    const whole = await call(env.base, 'PUT', '/v1/routes/whole', { body: ['/a'] });
    expect(whole.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_INVALID', message: 'invalid route: route: must be an object, got array ["/a"]' });
  });
});

describe('references and concurrency', () => {
  it('a route needs its upstream; a referenced upstream cannot be deleted', async () => {
    const dangling = await call(env.base, 'PUT', '/v1/routes/r-ref', { body: { paths: ['/a'], upstream_id: 'nope' } });
    expect(dangling.status).toBe(400);
    expect(dangling.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_MISSING_REFERENCE', message: 'invalid route r-ref: upstream_id refers to upstream nope, which does not exist', field: 'upstream_id' });
    expect((await call(env.base, 'PUT', '/v1/upstreams/u-ref', { body: { nodes: [{ host: '127.0.0.1', port: 9 }] } })).status).toBe(201);
    expect((await call(env.base, 'PUT', '/v1/routes/r-ref', { body: { paths: ['/a'], upstream_id: 'u-ref' } })).status).toBe(201);
    const del = await call(env.base, 'DELETE', '/v1/upstreams/u-ref');
    expect(del.status).toBe(409);
    expect(del.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_IN_USE', message: 'cannot delete upstream u-ref: referenced by routes/r-ref' });
    expect((await call(env.base, 'DELETE', '/v1/routes/r-ref')).status).toBe(200);
    expect((await call(env.base, 'DELETE', '/v1/upstreams/u-ref')).status).toBe(200);
    expect((await call(env.base, 'GET', '/v1/upstreams/u-ref')).status).toBe(404);
  });

  it('a delete racing a new reference never leaves it dangling', async () => {
    for (let i = 0; i < 8; i++) {
      await call(env.base, 'PUT', `/v1/upstreams/u-gone-${i}`, { body: { nodes: [{ host: '127.0.0.1', port: 9 }] } });
      await Promise.all([
        call(env.base, 'PUT', `/v1/routes/r-gone-${i}`, { body: { paths: ['/g'], upstream_id: `u-gone-${i}` } }),
        call(env.base, 'DELETE', `/v1/upstreams/u-gone-${i}`),
      ]);
      const route = await call(env.base, 'GET', `/v1/routes/r-gone-${i}`);
      const upstream = await call(env.base, 'GET', `/v1/upstreams/u-gone-${i}`);
      if (route.status === 200) expect(upstream.status, `round ${i}`).toBe(200);
    }
  });

  it('If-Match guards writes and deletes; PUT is idempotent; POST and If-None-Match create only', async () => {
    const body = { nodes: [{ host: '127.0.0.1', port: 10 }] };
    const created = await call(env.base, 'PUT', '/v1/upstreams/u-cas', { body });
    const rev = Number(created.body.revision);
    const again = await call(env.base, 'PUT', '/v1/upstreams/u-cas', { body });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ result: 'unchanged', revision: rev });

    const changed = { nodes: [{ host: '127.0.0.1', port: 11 }] };
    const ok = await call(env.base, 'PUT', '/v1/upstreams/u-cas', { body: changed, headers: { 'if-match': `"${rev}"` } });
    expect(ok.body.result).toBe('updated');
    const stale = await call(env.base, 'PUT', '/v1/upstreams/u-cas', { body: { nodes: [{ host: '127.0.0.1', port: 12 }] }, headers: { 'if-match': `"${rev}"` } });
    expect(stale.status).toBe(409);
    expect(stale.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_CONFLICT', message: `upstream u-cas was changed: If-Match ${rev}, current revision ${String(ok.body.revision)}` });
    // A retried PUT of what is stored succeeds whatever its (now stale) If-Match.
    expect((await call(env.base, 'PUT', '/v1/upstreams/u-cas', { body: changed, headers: { 'if-match': `"${rev}"` } })).body.result).toBe('unchanged');

    expect((await call(env.base, 'POST', '/v1/upstreams', { body: { id: 'u-cas', ...changed } })).body.code).toBe('MERIDIAN_ERR_CONTROLLER_EXISTS');
    expect((await call(env.base, 'PUT', '/v1/upstreams/u-cas', { body: changed, headers: { 'if-none-match': '*' } })).status).toBe(409);
    expect((await call(env.base, 'DELETE', '/v1/upstreams/u-cas', { headers: { 'if-match': `"${rev}"` } })).status).toBe(409);
    expect((await call(env.base, 'DELETE', '/v1/upstreams/u-cas', { headers: { 'if-match': `"${String(ok.body.revision)}"` } })).status).toBe(200);

    // Concurrent writers with the same If-Match: exactly one wins.
    const c = await call(env.base, 'PUT', '/v1/upstreams/u-race', { body });
    const racers = await Promise.all([20, 21, 22, 23].map((port) => call(env.base, 'PUT', '/v1/upstreams/u-race', { body: { nodes: [{ host: '127.0.0.1', port }] }, headers: { 'if-match': String(c.body.revision) } })));
    expect(racers.map((r) => r.status).sort()).toEqual([200, 409, 409, 409]);
  });

  it('every change is in the audit log with who and what', async () => {
    await call(env.base, 'PUT', '/v1/consumers/audited', { token: TOKENS.write, body: {} });
    const log = await call<{ items: Array<Record<string, unknown>> }>(env.base, 'GET', '/v1/audit?limit=5');
    expect(log.body.items.at(-1)).toMatchObject({ who: 'write-user', role: 'write', action: 'create', kind: 'consumers', id: 'audited' });
    expect(typeof log.body.items.at(-1)?.at).toBe('string');
  });
});

describe('virtual domains and bindings', () => {
  it('POST allocates <uuid v4>.<zone>; a binding answers with the CNAME; one binding per domain', async () => {
    await call(env.base, 'PUT', '/v1/regions/east', { body: { clusters: [{ name: 'blue' }, { name: 'green' }] } });
    const a = await call<{ value: { uuid: string; name: string; policy: unknown } }>(env.base, 'POST', '/v1/vdomains', { token: TOKENS.write, body: {} });
    expect(a.status).toBe(201);
    expect(a.body.value.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.body.value.name).toBe(`${a.body.value.uuid}.gw.example.net`);
    expect(a.body.value.policy).toEqual({ type: 'nearest' });
    const pinned = await call<{ value: { uuid: string } }>(env.base, 'POST', '/v1/vdomains', { body: { policy: { type: 'pinned', clusters: ['east/blue'] } } });
    expect(pinned.status).toBe(201);
    expect(pinned.body.value.uuid).not.toBe(a.body.value.uuid);
    const unknownRegion = await call(env.base, 'POST', '/v1/vdomains', { body: { policy: { type: 'failover', regions: ['mars', 'east'] } } });
    expect(unknownRegion.body.message).toMatch(/^invalid vdomain .+: policy.regions refers to region mars, which does not exist$/);

    const bind = await call<{ cname: Record<string, string> }>(env.base, 'PUT', '/v1/bindings/api.shop.example', { token: TOKENS.write, body: { vdomain: a.body.value.uuid } });
    expect(bind.status).toBe(201);
    expect(bind.body.cname).toEqual({ name: 'api.shop.example.', type: 'CNAME', value: `${a.body.value.uuid}.gw.example.net.`, record: `api.shop.example. 300 IN CNAME ${a.body.value.uuid}.gw.example.net.` });
    expect((await call(env.base, 'POST', '/v1/bindings', { body: { domain: 'api.shop.example', vdomain: pinned.body.value.uuid } })).status).toBe(409);
    expect((await call(env.base, 'PUT', '/v1/bindings/x.shop.example', { body: { vdomain: '00000000-0000-4000-8000-000000000000' } })).body.code).toBe('MERIDIAN_ERR_CONTROLLER_MISSING_REFERENCE');
    const del = await call(env.base, 'DELETE', `/v1/vdomains/${a.body.value.uuid}`);
    expect(del.body.message).toBe(`cannot delete vdomain ${a.body.value.uuid}: referenced by bindings/api.shop.example`);
    expect((await call(env.base, 'DELETE', '/v1/regions/east')).status).toBe(409);
  });

  it('a UUID that is already taken is drawn again; endless clashes give up', async () => {
    const taken = '11111111-1111-4111-8111-111111111111';
    const fresh = '22222222-2222-4222-8222-222222222222';
    const actor = { name: 't', role: 'admin' };
    await allocateVDomain(env.ctl.service, {}, actor, () => taken);
    const draws = [taken, taken, fresh];
    const w = await allocateVDomain(env.ctl.service, {}, actor, () => draws.shift() as string);
    expect(w.id).toBe(fresh);
    await expect(allocateVDomain(env.ctl.service, {}, actor, () => taken)).rejects.toMatchObject({ code: 'MERIDIAN_ERR_CONTROLLER_VDOMAIN_ALLOCATE' });
  });
});

describe('openapi', () => {
  it('is generated from the model schemas', async () => {
    const doc = await call<{ paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } }>(env.base, 'GET', '/openapi.json', { token: null });
    for (const kind of Object.keys(RESOURCES)) {
      expect(doc.body.paths[`/v1/${kind}/{id}`]).toBeDefined();
    }
    expect(doc.body.components.schemas.Route).toEqual(JSON.parse(JSON.stringify(RESOURCES.routes.schema)));
    expect(doc.body.paths['/v1/drain']).toBeDefined();
  });
});
