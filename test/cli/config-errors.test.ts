import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMeridian } from '../harness/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'meridian-cli-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const goodProber = `name: p1\nregion: east\netcd:\n  endpoints: ["http://127.0.0.1:2379"]\n`;

describe('a bad config: one clear line, exit code 2', () => {
  it.each([
    ['unknown key', 'prober', `${goodProber}colour: blue\n`, 'config error: colour: unknown key [MERIDIAN_ERR_CONFIG_INVALID]'],
    ['wrong type', 'prober', goodProber.replace('name: p1', 'name: 42'), 'config error: name: must be a string, got number 42 [MERIDIAN_ERR_CONFIG_INVALID]'],
    ['missing field', 'prober', goodProber.replace('region: east\n', ''), 'config error: region: is required [MERIDIAN_ERR_CONFIG_INVALID]'],
    ['nested wrong type', 'prober', goodProber.replace('["http://127.0.0.1:2379"]', '"http://127.0.0.1:2379"'), 'config error: etcd.endpoints: must be an array, got string "http://127.0.0.1:2379" [MERIDIAN_ERR_CONFIG_INVALID]'],
    ['out of range', 'prober', `${goodProber}interval_ms: 5\n`, 'config error: interval_ms: must be >= 100, got 5 [MERIDIAN_ERR_CONFIG_INVALID]'],
    ['bad enum', 'gateway', `node: {name: n1, region: east}\nlisten: {}\nadmin: {}\nconfig: {source: consul}\n`, 'config error: config.source: must be one of "etcd", "file", got string "consul" [MERIDIAN_ERR_CONFIG_INVALID]'],
    ['unknown nested key', 'dns', `listen: 127.0.0.1:5353\netcd: {endpoints: ["http://127.0.0.1:2379"], prefx: /x}\n`, 'config error: etcd.prefx: unknown key [MERIDIAN_ERR_CONFIG_INVALID]'],
    ['not YAML', 'prober', 'name: [unclosed\n', /^config error: .*bad\.yaml: invalid YAML: .+ \[MERIDIAN_ERR_CONFIG_YAML\]$/],
  ])('%s', (_kind, program, text, expected) => {
    const res = runMeridian([program, '-c', file('bad.yaml', text)]);
    expect(res.code).toBe(2);
    const lines = res.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    if (typeof expected === 'string') expect(lines[0]).toBe(expected);
    else expect(lines[0]).toMatch(expected);
  });

  it('a missing file names the file', () => {
    const res = runMeridian(['prober', '-c', join(dir, 'nope.yaml')]);
    expect(res.code).toBe(2);
    expect(res.stderr.trim()).toBe(`config error: cannot read ${join(dir, 'nope.yaml')}: no such file [MERIDIAN_ERR_CONFIG_FILE]`);
  });

  it('environment overrides are validated like the file', () => {
    const res = runMeridian(['prober', '-c', file('ok.yaml', goodProber)], { MERIDIAN__INTERVAL_MS: '"fast"' });
    expect(res.code).toBe(2);
    expect(res.stderr.trim()).toBe('config error: interval_ms: must be an integer, got string "fast" [MERIDIAN_ERR_CONFIG_INVALID]');
  });

  it('an unknown option is a usage error', () => {
    const res = runMeridian(['prober', '--colour']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/Unknown option '--colour'.*\(see meridian prober --help\) \[MERIDIAN_ERR_CLI_USAGE\]/);
  });

  it.each(['gateway', 'controller', 'dns', 'prober'])('meridian %s --help', (program) => {
    const res = runMeridian([program, '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`meridian ${program}`);
  });

  it('meridian with no command lists the commands', () => {
    const res = runMeridian([]);
    expect(res.code).toBe(2);
    for (const c of ['gateway', 'controller', 'dns', 'prober', 'up', 'down', 'ctl']) expect(res.stdout).toContain(`  ${c} `);
  });
});
