import type { ExitInfo } from '../../core/servers/managed-process.js';

/** When and how often a crashed program is started again. */
export interface RestartPolicy {
  /** Delay before the first restart; doubled after each quick crash. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A program that ran this long since its last start has its crash count reset. */
  resetAfterMs: number;
  /** Restarts in a row, each followed by a quick crash, after which the program is left stopped. */
  maxQuickCrashes: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialDelayMs: 500, maxDelayMs: 30_000, resetAfterMs: 60_000, maxQuickCrashes: 8 };

/** Delay before restart number `restart` (1-based) of a run of quick crashes. */
export function restartDelayMs(policy: RestartPolicy, restart: number): number {
  return Math.min(policy.initialDelayMs * 2 ** Math.max(0, restart - 1), policy.maxDelayMs);
}

/** What the supervisor needs of a process (ManagedProcess has it). */
export interface Supervisable {
  start(): Promise<void>;
  readonly running: boolean;
  readonly pid: number | undefined;
  onExit(listener: (info: ExitInfo) => void): void;
}

export type SupervisorEvent =
  | { type: 'exited'; name: string; code: number | null; signal: NodeJS.Signals | null; restart: number; delayMs: number }
  | { type: 'restarted'; name: string; pid: number | undefined; restart: number }
  | { type: 'restart-failed'; name: string; reason: string; restart: number }
  | { type: 'gave-up'; name: string; crashes: number; code: number | null; signal: NodeJS.Signals | null };

/** Supervision state of one program, for the status table. */
export type SupervisedState = 'running' | 'restarting' | 'failed';

interface Entry {
  name: string;
  proc: Supervisable;
  state: SupervisedState;
  /** Quick crashes in a row (the restart number of the next restart). */
  crashes: number;
  /** Restarts since `up` started, for the status table. */
  restarts: number;
  /** When the process was last started (or a restart was tried). */
  since: number;
  timer: NodeJS.Timeout | undefined;
}

/** "code 1" / "signal SIGKILL": how a process ended, as the terminal says it. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `signal ${signal}` : `code ${String(code)}`;
}

/** One line per event, as `meridian up` prints it. */
export function formatEvent(e: SupervisorEvent): string {
  switch (e.type) {
    case 'exited':
      return `${e.name} exited (${describeExit(e.code, e.signal)}); restarting in ${(e.delayMs / 1000).toFixed(1)} s (restart ${e.restart})`;
    case 'restarted':
      return `${e.name} restarted (pid ${String(e.pid)}, restart ${e.restart})`;
    case 'restart-failed':
      return `${e.name} restart ${e.restart} failed: ${e.reason}`;
    case 'gave-up':
      return `${e.name} exited (${describeExit(e.code, e.signal)}) again after ${e.crashes - 1} quick restarts in a row; giving up, it stays stopped`;
  }
}

/**
 * Restarts programs that exit without being asked to, with exponential backoff: a program
 * that keeps crashing right after start is retried less and less often and finally left
 * stopped, one that ran `resetAfterMs` starts counting afresh. Exits that stop()/kill()
 * asked for are not crashes; after stop() nothing is restarted.
 */
export class Supervisor {
  private readonly entries = new Map<string, Entry>();
  private stopped = false;

  constructor(
    private readonly onEvent: (e: SupervisorEvent) => void,
    private readonly policy: RestartPolicy = DEFAULT_RESTART_POLICY,
    private readonly now: () => number = Date.now,
  ) {}

  /** Watches `proc`; a process that is already gone counts as a crash. */
  add(name: string, proc: Supervisable): void {
    const entry: Entry = { name, proc, state: 'running', crashes: 0, restarts: 0, since: this.now(), timer: undefined };
    this.entries.set(name, entry);
    proc.onExit((info) => {
      // While a restart is under way its own failures are handled where it is awaited.
      if (info.requested || entry.state !== 'running') return;
      this.crashed(entry, info.code, info.signal);
    });
    if (!proc.running) this.crashed(entry, null, null);
  }

  /** Supervision state and restart count of `name`, if supervised. */
  stateOf(name: string): { state: SupervisedState; restarts: number } | undefined {
    const e = this.entries.get(name);
    return e && { state: e.state, restarts: e.restarts };
  }

  /** No restart from now on (pending ones are cancelled): the cluster is being stopped. */
  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) {
      clearTimeout(e.timer);
      e.timer = undefined;
    }
  }

  private crashed(entry: Entry, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopped) return;
    if (this.now() - entry.since >= this.policy.resetAfterMs) entry.crashes = 0;
    entry.crashes++;
    if (entry.crashes > this.policy.maxQuickCrashes) {
      entry.state = 'failed';
      this.onEvent({ type: 'gave-up', name: entry.name, crashes: entry.crashes, code, signal });
      return;
    }
    const restart = entry.crashes;
    const delayMs = restartDelayMs(this.policy, restart);
    entry.state = 'restarting';
    this.onEvent({ type: 'exited', name: entry.name, code, signal, restart, delayMs });
    entry.timer = setTimeout(() => void this.restart(entry, restart), delayMs);
  }

  private async restart(entry: Entry, restart: number): Promise<void> {
    entry.timer = undefined;
    if (this.stopped) return;
    entry.since = this.now();
    entry.restarts++;
    try {
      await entry.proc.start();
    } catch (err) {
      if (this.stopped) return;
      this.onEvent({ type: 'restart-failed', name: entry.name, reason: (err as Error).message, restart });
      this.crashed(entry, null, null);
      return;
    }
    if (this.stopped) return;
    entry.state = 'running';
    this.onEvent({ type: 'restarted', name: entry.name, pid: entry.proc.pid, restart });
    // It may have died between becoming ready and now.
    if (!entry.proc.running) this.crashed(entry, null, null);
  }
}
