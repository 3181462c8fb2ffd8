import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The processes of a running `meridian up`, rewritten whenever one starts or exits. Its
 * children run in process groups of their own (so a terminal's Ctrl-C reaches only `up`), so
 * when `up` itself is SIGKILLed nothing takes them down: the next `up` and `meridian down`
 * read this file and kill what is left.
 */
export interface PidRecord {
  name: string;
  pid: number;
  /**
   * When it started (as the kernel says): a recycled pid belongs to a process that started
   * later, and is left alone. Not the command line: Redis rewrites its own.
   */
  started: string;
}

export interface PidFileContent {
  /** The `meridian up` process. */
  up: PidRecord;
  processes: PidRecord[];
}

export function writePidFile(file: string, content: PidFileContent): void {
  // Written whole then renamed: a reader never sees half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(content));
  renameSync(tmp, file);
}

export function readPidFile(file: string): PidFileContent | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PidFileContent;
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * When `pid` started, or undefined when it is gone: clock ticks since boot from /proc on
 * Linux (fixed at fork, so the same before and after the child's exec), else ps's lstart.
 */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses); starttime is the 22nd field.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    if (existsSync('/proc/self')) return undefined;
  }
  const ps = spawnSync('ps', ['-p', String(pid), '-o', 'lstart='], { encoding: 'utf8' });
  return ps.status === 0 ? ps.stdout.trim() : undefined;
}

/** Whether `record` still names the process it was written for. */
export function stillRunning(record: PidRecord): boolean {
  return alive(record.pid) && startTime(record.pid) === record.started;
}

/**
 * SIGKILLs (with their process groups) the processes a dead `up` left behind and removes the
 * file; resolves with their names once they are gone, so their ports are free again.
 */
export async function killLeftovers(file: string, timeoutMs = 5_000): Promise<string[]> {
  const content = readPidFile(file);
  if (!content) return [];
  const left = content.processes.filter(stillRunning);
  for (const p of left) {
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (left.some((p) => alive(p.pid)) && Date.now() < deadline) await sleep(50);
  rmSync(file, { force: true });
  return left.map((p) => p.name);
}
