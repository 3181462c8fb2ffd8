import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of a process and its live descendants (utime + stime from /proc, Linux). On a shared,
 * noisy machine CPU time per request moves far less than requests/s, so the benches compare it.
 */

let tickMs: number | undefined;
function msPerTick(): number {
  if (tickMs === undefined) {
    let hz = 100;
    try {
      hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      // getconf missing: Linux's USER_HZ is 100 on every common build
    }
    tickMs = 1000 / hz;
  }
  return tickMs;
}

/** pid -> [ppid, utime + stime in ticks] for every process (fields 4, 14 and 15 of /proc/PID/stat). */
function processTable(): Map<number, [number, number]> {
  const table = new Map<number, [number, number]>();
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    table.set(Number(name), [Number(rest[1]), Number(rest[11]) + Number(rest[12])]);
  }
  return table;
}

/** CPU milliseconds used so far by `pid` and every live process below it. */
export function treeCpuMs(pid: number): number {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const [p, [ppid]] of table) (children.get(ppid) ?? children.set(ppid, []).get(ppid))?.push(p);
  let ticks = 0;
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop() as number;
    ticks += table.get(p)?.[1] ?? 0;
    todo.push(...(children.get(p) ?? []));
  }
  return ticks * msPerTick();
}
