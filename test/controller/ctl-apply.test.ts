import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServers } from '../harness/index.js';
import type { Controller } from '../../controller/controller.js';
import { call, runCtl, startController, TOKENS } from './helpers.js';

// The declarative workflow against a real controller and real etcd: export, edit, diff, apply.
const servers = await useServers();
let ctl: Controller;
const dir = mkdtempSync(join(tmpdir(), 'meridian-ctl-apply-'));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const ctlRun = (args: string[], opts: { token?: string | null; stdin?: string } = {}) => runCtl(ctl.url, args, opts);
const revision = () => ctl.central.revision();
const stored = async (kind: 'routes' | 'upstreams' | 'consumers', id: string) => (await ctl.service.get(kind, id))?.value;

const BASE = `kind: upstream
spec: { id: api-v1, nodes: [{ host: 127.0.0.1, port: 8080 }] }
---
kind: upstream
spec: { id: api-v2, nodes: [{ host: 127.0.0.1, port: 8081 }] }
---
kind: route
spec: { id: api, paths: [/api], upstream_id: api-v1 }
---
kind: route
spec: { id: docs, paths: [/docs], upstream_id: api-v1 }
---
kind: region
spec: { name: east, clusters: [{ name: c1 }] }
---
kind: consumer
spec:
  username: ann
  plugins:
    hmac-auth: { secret: ann-hmac-secret-0123 }
    key-auth: { key: ann-key-0123456789 }
`;

beforeAll(async () => {
  const etcd = await servers.etcd();
  ctl = await startController(etcd.endpoint);
  const r = await ctlRun(['apply', '-f', file('base.yaml', BASE)]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
});
afterAll(async () => {
  await ctl?.stop();
});

describe('ctl: manifests that apply back, diff, dry run, atomic apply, prune', () => {
  it('get -o yaml | apply -f - is a no-op, one document per resource; so are describe and dump (secrets redacted or not)', async () => {
    const before = await revision();
    const list = await ctlRun(['get', 'routes', '-o', 'yaml']);
    expect(list.code).toBe(0);
    const docs = parseAllDocuments(list.stdout).map((d) => d.toJS() as { kind: string; spec: { id: string } });
    expect(docs.map((d) => [d.kind, d.spec.id])).toEqual([['route', 'api'], ['route', 'docs']]);
    expect(list.stdout).toContain('\n---\n');
    const back = await ctlRun(['apply', '-f', '-'], { stdin: list.stdout });
    expect(back.stderr).toBe('');
    expect(back.stdout).toBe('routes/api unchanged\nroutes/docs unchanged\n');

    const [one, described] = await Promise.all([ctlRun(['get', 'route', 'api', '-o', 'yaml']), ctlRun(['describe', 'route', 'api'])]);
    expect(described.stdout).toMatch(/^metadata:\n {2}id: api\n {2}revision: \d+$/m);
    const applied = await Promise.all([one.stdout, described.stdout].map((text) => ctlRun(['apply', '-f', '-'], { stdin: text })));
    expect(applied.map((r) => r.stdout)).toEqual(['routes/api unchanged\n', 'routes/api unchanged\n']);

    // A write token reads secrets redacted; applied back, the stored ones are kept.
    const [dumpAdmin, dumpWrite] = await Promise.all([ctlRun(['dump']), ctlRun(['dump'], { token: TOKENS.write })]);
    expect(dumpAdmin.stdout).toContain('ann-hmac-secret-0123');
    expect(dumpWrite.stdout).not.toContain('ann-hmac-secret-0123');
    expect(dumpWrite.stdout).toContain('secret: "<redacted: admin only>"');
    const consumer = await stored('consumers', 'ann');
    const reapplied = await Promise.all([ctlRun(['apply', '-f', '-'], { stdin: dumpAdmin.stdout }), ctlRun(['apply', '-f', '-'], { token: TOKENS.write, stdin: dumpWrite.stdout })]);
    for (const r of reapplied) {
      expect(r.stderr).toBe('');
      expect(r.stdout.trim().split('\n').every((l) => l.endsWith(' unchanged'))).toBe(true);
      expect(r.stdout).toContain('regions/east unchanged');
    }
    expect(await stored('consumers', 'ann')).toEqual(consumer);
    expect(await revision()).toBe(before);
  }, 120_000);

  it('a redaction marker with no stored secret to keep is refused, with a code, and nothing is written', async () => {
    const before = await revision();
    const r = await ctlRun(['apply', '-f', file('marker.yaml', 'kind: consumer\nspec:\n  username: bob\n  plugins:\n    hmac-auth: { secret: "<redacted: admin only>" }\n')]);
    expect(r.code).toBe(8);
    expect(r.stderr).toBe('error: consumers/bob: invalid consumer: plugins.hmac-auth.secret: is the redaction marker and no stored value exists to keep [MERIDIAN_ERR_CONTROLLER_INVALID]\n');
    expect(await stored('consumers', 'bob')).toBeUndefined();
    expect(await revision()).toBe(before);
  }, 30_000);

  it('diff and apply --dry-run show what would change and write nothing', async () => {
    const edited = file('edited.yaml', `kind: route
spec: { id: api, paths: [/api, /api/v2], upstream_id: api-v2 }
---
kind: route
spec: { id: new-one, paths: [/new], upstream_id: api-v1 }
`);
    const before = await revision();
    const [diff, dry, dryJson] = await Promise.all([ctlRun(['diff', '-f', edited]), ctlRun(['apply', '--dry-run', '-f', edited]), ctlRun(['diff', '-f', edited, '--prune', '-o', 'json'])]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toContain('--- routes/api (stored)\n+++ routes/api (file)\n');
    expect(diff.stdout).toMatch(/^-upstream_id: api-v1$/m);
    expect(diff.stdout).toMatch(/^\+upstream_id: api-v2$/m);
    expect(diff.stdout).toMatch(/^\+ {2}- \/api\/v2$/m);
    expect(diff.stdout).toContain('--- /dev/null\n+++ routes/new-one (file)\n');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe('routes/api configured (dry run)\nroutes/new-one created (dry run)\n');
    // With --prune, the route the file no longer names would go.
    expect((JSON.parse(dryJson.stdout) as Array<{ id: string; result: string }>).map((i) => `${i.id}:${i.result}`)).toEqual(['api:updated', 'new-one:created', 'docs:deleted']);
    expect(await revision()).toBe(before);
    expect(await stored('routes', 'new-one')).toBeUndefined();

    const same = await ctlRun(['diff', '-f', file('same.yaml', BASE)]);
    expect(same).toMatchObject({ code: 0, stdout: '' });
  }, 60_000);

  it('an apply whose last document is invalid writes nothing, not even the valid documents before it', async () => {
    const before = await revision();
    const r = await ctlRun(['apply', '-f', file('half.yaml', `kind: upstream
spec: { id: half-u, nodes: [{ host: 127.0.0.1, port: 8082 }] }
---
kind: route
spec: { id: half-r, paths: [/half], upstream_id: half-u }
---
kind: route
spec: { id: half-bad, paths: [], upstream_id: half-u }
`)]);
    expect(r.code).toBe(8);
    expect(r.stderr).toBe("error: routes/half-bad: invalid route: paths: must have at least 1 item(s) [MERIDIAN_ERR_CONTROLLER_INVALID]\n");
    expect(await stored('upstreams', 'half-u')).toBeUndefined();
    expect(await stored('routes', 'half-r')).toBeUndefined();
    expect(await revision()).toBe(before);

    // A reference to a resource that neither the file nor the store holds fails the same way.
    const dangling = await ctlRun(['apply', '-f', file('dangling.yaml', 'kind: upstream\nspec: { id: ok-u, nodes: [{ host: 127.0.0.1, port: 1 }] }\n---\nkind: route\nspec: { id: r-x, paths: [/x], upstream_id: nowhere }\n')]);
    expect(dangling.code).toBe(8);
    expect(dangling.stderr).toContain('[MERIDIAN_ERR_CONTROLLER_MISSING_REFERENCE]');
    expect(await stored('upstreams', 'ok-u')).toBeUndefined();
  }, 60_000);

  it('apply --prune and sync delete exactly what the file dropped, within its kinds, and only when confirmed', async () => {
    await call(ctl.url, 'PUT', '/v1/routes/extra', { body: { paths: ['/extra'], upstream_id: 'api-v2' } });
    const routesOnly = file('routes.yaml', 'kind: route\nspec: { id: api, paths: [/api], upstream_id: api-v1 }\n---\nkind: route\nspec: { id: docs, paths: [/docs], upstream_id: api-v1 }\n');
    const before = await revision();
    const unconfirmed = await ctlRun(['apply', '--prune', '-f', routesOnly]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('this would delete 1 resource(s) (routes/extra); pass --yes to confirm');
    expect(await revision()).toBe(before);

    const pruned = await ctlRun(['apply', '--prune', '--yes', '-f', routesOnly]);
    expect(pruned.stderr).toBe('');
    expect(pruned.stdout).toBe('routes/api unchanged\nroutes/docs unchanged\nroutes/extra deleted\n');
    expect(await stored('routes', 'extra')).toBeUndefined();
    // Kinds the file does not hold are left alone.
    expect(await stored('upstreams', 'api-v2')).toBeDefined();
    expect(await stored('consumers', 'ann')).toBeDefined();

    // A prune that would leave a reference dangling is refused whole.
    const upstreamsOnly = file('upstreams.yaml', 'kind: upstream\nspec: { id: api-v2, nodes: [{ host: 127.0.0.1, port: 8081 }] }\n');
    const inUse = await ctlRun(['sync', '--yes', '-f', upstreamsOnly]);
    expect(inUse.code).toBe(4);
    expect(inUse.stderr).toBe('error: upstreams/api-v1: cannot delete upstream api-v1: referenced by routes/api, routes/docs [MERIDIAN_ERR_CONTROLLER_IN_USE]\n');
    expect(await stored('upstreams', 'api-v1')).toBeDefined();
  }, 60_000);
});
