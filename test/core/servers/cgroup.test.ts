import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cgroup2Mount, inCgroup } from '../../../src/core/servers/cgroup.js';

describe('cgroup2Mount', () => {
  it('finds the cgroup v2 mount of a hybrid host', () => {
    const mounts = ['tmpfs /sys/fs/cgroup tmpfs rw 0 0', 'cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0', 'cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0'].join('\n');
    expect(cgroup2Mount(mounts)).toBe('/sys/fs/cgroup/unified');
  });

  it('finds a unified host and reports none when there is no cgroup v2', () => {
    expect(cgroup2Mount('cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0')).toBe('/sys/fs/cgroup');
    expect(cgroup2Mount('cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n')).toBeUndefined();
  });
});

describe('inCgroup', () => {
  it('passes the program its arguments unchanged, spaces and quotes included', () => {
    // The cgroup write fails on a folder that is not a cgroup, so `&&` stops before exec: use
    // a shell that shows what exec would get instead of joining.
    const { command, args } = inCgroup('/nonexistent', 'printf', ['%s|', 'a b', '"q"', '$HOME']);
    expect(command).toBe('/bin/sh');
    const script = args[1]?.replace('echo $$ > "$0/cgroup.procs" && ', '') ?? '';
    const out = execFileSync(command, [args[0] ?? '', script, ...args.slice(2)], { encoding: 'utf8' });
    expect(out).toBe('a b|"q"|$HOME|');
  });
});
