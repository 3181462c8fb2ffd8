import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServers } from '../harness/index.js';
import type { Controller } from '../../controller/controller.js';
import { runCtl, startController, TOKENS } from './helpers.js';

const servers = await useServers();
let ctl: Controller;
const dir = mkdtempSync(join(tmpdir(), 'meridian-ctl-'));

beforeAll(async () => {
  const etcd = await servers.etcd();
  ctl = await startController(etcd.endpoint);
});
afterAll(async () => {
  await ctl?.stop();
});

const meridianCtl = (args: string[], token: string | null = TOKENS.admin) => runCtl(ctl.url, args, { token });

const MANIFEST = `# routes first on purpose: apply sorts by reference
kind: Route
spec:
  id: web
  paths: [/web]
  upstream_id: web-v1
---
kind: upstream
spec:
  id: web-v1
  nodes: [{ host: 127.0.0.1, port: 8080 }]
---
kind: upstream
spec:
  id: web-v2
  nodes: [{ host: 127.0.0.1, port: 8081 }]
---
kind: regions
spec:
  name: east
  clusters: [{ name: c1 }]
`;

describe('meridian ctl', () => {
  it('apply, get (table and json), describe, and the exit codes of failures', async () => {
    const file = join(dir, 'setup.yaml');
    writeFileSync(file, MANIFEST);
    const applied = await meridianCtl(['apply', '-f', file]);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toBe('regions/east created\nupstreams/web-v1 created\nupstreams/web-v2 created\nroutes/web created\n');

    const [again, table, json, inUse, noToken, missing, bad] = await Promise.all([
      meridianCtl(['apply', '-f', file]),
      meridianCtl(['get', 'routes']),
      meridianCtl(['get', 'route', 'web', '-o', 'json']),
      meridianCtl(['delete', 'upstream', 'web-v1']),
      meridianCtl(['get', 'routes'], null),
      meridianCtl(['describe', 'route', 'nope']),
      meridianCtl(['get', 'gizmos']),
    ]);
    expect(again.stdout).toContain('routes/web unchanged');
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+PATHS\s+HOSTS\s+UPSTREAM\s+SPLIT\s+REGIONS\s+REVISION$/);
    expect(table.stdout).toMatch(/^web\s+\/web\s+-\s+web-v1\s+-\s+all\s+\d+$/m);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: 'web', paths: ['/web'], upstream_id: 'web-v1', priority: 0 });
    expect(inUse.code).toBe(4);
    expect(inUse.stderr).toBe('error: cannot delete upstream web-v1: referenced by routes/web [MERIDIAN_ERR_CONTROLLER_IN_USE]\n');
    expect(noToken.code).toBe(5);
    expect(missing.code).toBe(3);
    expect(bad.code).toBe(2);
  }, 60_000);

  it('vdomain create and bind, a validation failure, status and help', async () => {
    const created = await meridianCtl(['vdomain', 'create', '--policy', 'pinned', '--clusters', 'east/c1', '-o', 'json'], TOKENS.write);
    expect(created.code).toBe(0);
    const uuid = (JSON.parse(created.stdout) as { id: string }).id;
    const badFile = join(dir, 'bad.yaml');
    writeFileSync(badFile, 'kind: route\nspec:\n  id: broken\n  paths: []\n');
    const [bound, invalid, status, help, readOnly] = await Promise.all([
      meridianCtl(['vdomain', 'bind', 'api.shop.example', uuid], TOKENS.write),
      meridianCtl(['apply', '-f', badFile]),
      meridianCtl(['status']),
      meridianCtl(['--help']),
      meridianCtl(['vdomain', 'create'], TOKENS.read),
    ]);
    expect(bound.code).toBe(0);
    expect(bound.stdout).toContain(`api.shop.example. 300 IN CNAME ${uuid}.gw.example.net.`);
    expect(invalid.code).toBe(8);
    expect(invalid.stderr).toBe('error: routes/broken: invalid route: paths: must have at least 1 item(s) [MERIDIAN_ERR_CONTROLLER_INVALID]\n');
    expect(status.stdout).toMatch(/^REGION\s+NODE\s+STATE\s+DESIRED\s+APPLIED\s+PROBERS$/m);
    expect(status.stdout).toMatch(/^east\s+no_etcd/m);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    expect(readOnly.code).toBe(5);
  }, 60_000);

  it('deploy start from a file, then promote', async () => {
    const file = join(dir, 'canary.yaml');
    writeFileSync(file, 'kind: deployment\nspec:\n  id: web-canary\n  kind: backend\n  route: web\n  from: web-v1\n  to: web-v2\n  steps: [10, 50, 100]\n');
    const started = await meridianCtl(['deploy', 'start', '-f', file], TOKENS.write);
    expect(started.stderr).toBe('');
    expect(started.stdout).toBe('deployment web-canary: running, step 1/3: 10% on web-v2\n');
    const promoted = await meridianCtl(['deploy', 'promote', 'web-canary'], TOKENS.write);
    expect(promoted.stdout).toBe('deployment web-canary: running, step 2/3: 50% on web-v2\n');
    expect((await ctl.service.get<{ split?: { weight: number } }>('routes', 'web'))?.value.split?.weight).toBe(50);
  }, 60_000);

  it('get and describe show consumer secrets to admins only; audit names what changed', async () => {
    const file = join(dir, 'consumer.yaml');
    writeFileSync(file, 'kind: consumer\nspec:\n  username: erin\n  plugins:\n    hmac-auth: { secret: erin-hmac-secret-0123 }\n    key-auth: { key: erin-key-0123456789 }\n');
    expect((await meridianCtl(['apply', '-f', file], TOKENS.write)).stdout).toBe('consumers/erin created\n');
    // Re-applying the same clear key changes nothing (the stored hash is the same).
    expect((await meridianCtl(['apply', '-f', file], TOKENS.write)).stdout).toBe('consumers/erin unchanged\n');
    const [get, describeRead, getAdmin, audit] = await Promise.all([
      meridianCtl(['get', 'consumer', 'erin', '-o', 'json'], TOKENS.read),
      meridianCtl(['describe', 'consumer', 'erin'], TOKENS.write),
      meridianCtl(['get', 'consumers', '-o', 'json'], TOKENS.admin),
      meridianCtl(['audit']),
    ]);
    expect(JSON.parse(get.stdout)).toEqual({ username: 'erin', plugins: { 'hmac-auth': { secret: '<redacted: admin only>' }, 'key-auth': { key_hash: '<redacted: admin only>' } } });
    expect(describeRead.stdout).toContain('secret: "<redacted: admin only>"');
    expect(describeRead.stdout).not.toContain('erin-hmac-secret');
    const erin = (JSON.parse(getAdmin.stdout) as Array<{ username: string; plugins: Record<string, Record<string, string>> }>).find((c) => c.username === 'erin');
    expect(erin?.plugins['hmac-auth']?.secret).toBe('erin-hmac-secret-0123');
    expect(erin?.plugins['key-auth']?.key_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    for (const out of [get.stdout, describeRead.stdout, getAdmin.stdout, audit.stdout]) expect(out).not.toContain('erin-key-0123456789');
    expect(audit.stdout.split('\n')[0]).toMatch(/^AT\s+WHO\s+ACTION\s+KIND\s+ID\s+CHANGED$/);
    expect(audit.stdout).toMatch(/write-user\s+create\s+consumers\s+erin\s+-$/m);
  }, 60_000);
});
