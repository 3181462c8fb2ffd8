import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { GatewayConfig } from '../../src/core/model/index.js';
import { dryRun } from '../../src/gateway/config-check.js';
import { builtinRegistry } from '../../src/plugins/index.js';
import { configJson, readSnapshot, writeSnapshot } from '../../src/gateway/snapshot.js';

const dir = mkdtempSync(join(tmpdir(), 'meridian-snapshot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('snapshot file', () => {
  const raw = {
    revision: 7,
    allow_empty: true,
    upstreams: [{ id: 'up', nodes: [{ host: '127.0.0.1', port: 1 }], plugins: { cors: {} } }],
    routes: [{ id: 'a', paths: ['/a/*'], upstream_id: 'up', labels: { team: 'ü "quoted" \u2028' } }, { id: 'b', paths: ['/b'], upstream_id: 'up' }],
    consumers: [{ username: 'c', plugins: { 'key-auth': { key: 'secret-key-1' } } }],
  };

  it('writes the JSON text JSON.stringify gives, a changed resource included, and reads it back', () => {
    const first = dryRun(raw, builtinRegistry(), undefined).config;
    expect(configJson(first)).toBe(JSON.stringify(first));
    // The next config shares its unchanged resources (as the primary's check hands them over).
    const changed = { ...first, revision: 8, routes: [first.routes[0], { ...first.routes[1], paths: ['/b2'] }] } as GatewayConfig;
    expect(configJson(changed)).toBe(JSON.stringify(changed));
    const file = join(dir, 'gw.snapshot.json');
    writeSnapshot(file, changed);
    expect(JSON.parse(readFileSync(file, 'utf8')).config).toEqual(JSON.parse(JSON.stringify(changed)));
    expect(readSnapshot(file)?.config.routes[1]?.paths).toEqual(['/b2']);
  });
});
