import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/core/servers/binaries.js';

/**
 * Every server a suite starts is noted here, so the global teardown (and the next run, after
 * an interrupted one) can kill what a crashed test worker left behind.
 */
export const PID_DIR = join(PROJECT_ROOT, '.meridian', 'harness', 'pids');

export function notePid(pid: number, name: string): void {
  mkdirSync(PID_DIR, { recursive: true });
  writeFileSync(join(PID_DIR, String(pid)), name);
}

export function forgetPid(pid: number): void {
  rmSync(join(PID_DIR, String(pid)), { force: true });
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Kills noted processes that are still ours (their command line names a server binary). */
export function killNoted(): number {
  let killed = 0;
  let names: string[];
  try {
    names = readdirSync(PID_DIR);
  } catch {
    return 0;
  }
  for (const name of names) {
    const pid = Number(name);
    const cmd = commandLine(pid);
    if (/consul|etcd|redis-server|meridian|cli\/main/.test(cmd)) {
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // gone
      }
    }
    rmSync(join(PID_DIR, name), { force: true });
  }
  return killed;
}
