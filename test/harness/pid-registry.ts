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
  // The owner (the test process that started it) is noted too: several `vitest run`s may share
  // this folder (engineers running their own suites side by side), and one run must never kill
  // the live servers of another, only those whose owner is gone.
  writeFileSync(join(PID_DIR, String(pid)), `${name}\n${process.pid}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerOf(file: string): number | undefined {
  try {
    const owner = Number(readFileSync(file, 'utf8').split('\n')[1]);
    return Number.isInteger(owner) && owner > 0 ? owner : undefined;
  } catch {
    return undefined;
  }
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

/** Kills noted processes whose owner has exited and that are still ours (their command line names a server binary). */
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
    const owner = ownerOf(join(PID_DIR, name));
    // Owned by a test process still running (this run's or another's): not a leftover.
    if (owner !== undefined && owner !== process.pid && alive(owner)) continue;
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
