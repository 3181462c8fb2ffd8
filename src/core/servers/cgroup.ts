import { readFileSync } from 'node:fs';

/**
 * The command line that runs `command args` inside the cgroup v2 folder `dir`: a shell joins
 * the cgroup, then execs the program, so every socket the program opens belongs to that
 * cgroup (a packet filter can then tell processes apart on a shared loopback) and the pid is
 * the program's own (signals reach it directly).
 */
export function inCgroup(dir: string, command: string, args: readonly string[]): { command: string; args: string[] } {
  return { command: '/bin/sh', args: ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, command, ...args] };
}

/** Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or .../unified on hybrid hosts). */
export function cgroup2Mount(mounts = readMounts()): string | undefined {
  for (const line of mounts.split('\n')) {
    const [, mountPoint, type] = line.split(' ');
    if (type === 'cgroup2' && mountPoint) return mountPoint;
  }
  return undefined;
}

function readMounts(): string {
  try {
    return readFileSync('/proc/mounts', 'utf8');
  } catch {
    return '';
  }
}
