import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServers } from '../harness/index.js';
import { RESOURCES } from '../../src/core/model/index.js';
import type { Controller } from '../../controller/controller.js';
import { openApiPath } from '../../controller/api/openapi.js';
import { call, startController, TOKENS } from './helpers.js';

const servers = await useServers();
let ctl: Controller;

beforeAll(async () => {
  ctl = await startController((await servers.etcd()).endpoint);
});
afterAll(async () => {
  await ctl?.stop();
});

type Doc = { paths: Record<string, Record<string, { summary?: string; security?: unknown[] }>> };

describe('OpenAPI document', () => {
  it('documents every served route, and every documented operation is served', async () => {
    const doc = (await call<Doc>(ctl.url, 'GET', '/openapi.json', { token: null })).body;
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).filter((k) => k !== 'parameters').map((m) => `${m.toUpperCase()} ${path}`)));

    // Served -> documented: each route as registered (a :kind route once per resource kind).
    const routes = ctl.api.routes();
    expect(routes.length).toBeGreaterThan(10);
    for (const r of routes) {
      const concrete = r.path.includes(':kind') ? Object.keys(RESOURCES).map((k) => r.path.replace(':kind', k)) : [r.path];
      for (const c of concrete) expect(documented, `${r.method} ${c}`).toContain(`${r.method} ${openApiPath(c).path}`);
    }
    for (const op of ['GET /v1/leader', 'GET /v1/purges', 'POST /v1/apply', 'GET /openapi.json']) expect(documented).toContain(op);

    // Documented -> served: ask the server itself (a read token: writes answer 403, never 404 "no endpoint").
    for (const op of documented) {
      const [method, path] = op.split(' ') as [string, string];
      const res = await fetch(`${ctl.url}${path.replace(/\{\w+\}/g, 'x')}`, { method, headers: { authorization: `Bearer ${TOKENS.read}` } });
      const text = await res.text();
      expect(res.status === 404 ? text : '', op).not.toContain('MERIDIAN_ERR_CONTROLLER_NO_ENDPOINT');
    }
    expect((await call<{ code?: string }>(ctl.url, 'GET', '/v1/nothing-here/x/y', { token: TOKENS.read })).body.code).toBe('MERIDIAN_ERR_CONTROLLER_NO_ENDPOINT');

    // Public routes say so; the summary is the one the route was registered with.
    expect(doc.paths['/healthz']?.get?.security).toEqual([]);
    expect(doc.paths['/v1/purges']?.get?.summary).toBe('recent purges');
  }, 60_000);
});
