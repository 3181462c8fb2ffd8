import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MeridianError } from '../errors/index.js';
import { inCgroup } from './cgroup.js';

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * stdout+stderr go here (appended); default: discarded. The child writes the file itself
   * (its fds are the file's), so every line it writes reaches the file whatever happens to us.
   */
  logFile?: string;
  /**
   * A process group of its own: a terminal's Ctrl-C then reaches only the parent, which stops
   * its children in its own order; kill() takes the whole group. Default: ours.
   */
  detached?: boolean;
  /** Resolves true once the process serves; polled until `readyTimeoutMs`. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** cgroup v2 folder the process runs in (chaos partitions filter by it); default: ours. */
  cgroup?: string;
}

/** How a process ended. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stop() or kill() asked for it; false for a crash or a kill from outside. */
  requested: boolean;
}

/** Tracks every live child so an exiting parent can take them down with it. */
const live = new Map<ChildProcess, { group: boolean }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [child, { group }] of live) sigkill(child, group);
  });
}

/** SIGKILL to the child, or to its whole process group (workers, a cgroup shell's program). */
function sigkill(child: ChildProcess, group: boolean): void {
  if (!child.pid) return;
  try {
    process.kill(group ? -child.pid : child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** A real server process: start, wait until ready, stop/kill/freeze/thaw, restart. */
export class ManagedProcess {
  readonly spec: ProcessSpec;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private frozen = false;
  /** Set by stop()/kill(), cleared by start(): tells a requested exit from a crash. */
  private exitRequested = false;
  private readonly exitListeners: Array<(info: ExitInfo) => void> = [];
  onSpawn: ((pid: number) => void) | undefined;

  constructor(spec: ProcessSpec) {
    this.spec = spec;
    installExitHook();
  }

  /** `listener` is called once per spawned process when it has exited, requested or not. */
  onExit(listener: (info: ExitInfo) => void): void {
    this.exitListeners.push(listener);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const { spec } = this;
    this.exitRequested = false;
    let logFd: number | undefined;
    if (spec.logFile) {
      mkdirSync(dirname(spec.logFile), { recursive: true });
      logFd = openSync(spec.logFile, 'a');
    }
    const run = spec.cgroup ? inCgroup(spec.cgroup, spec.command, spec.args) : spec;
    let child: ChildProcess;
    try {
      child = spawn(run.command, run.args, {
        cwd: spec.cwd,
        env: { ...process.env, ...spec.env },
        stdio: ['ignore', logFd ?? 'ignore', logFd ?? 'ignore'],
        detached: spec.detached ?? false,
      });
    } finally {
      // The child holds its own copy of the fd.
      if (logFd !== undefined) closeSync(logFd);
    }
    this.child = child;
    live.set(child, { group: spec.detached ?? false });
    let exitInfo = '';
    this.exited = new Promise((resolve) => {
      let done = false;
      const ended = (info: Omit<ExitInfo, 'requested'>, text: string) => {
        if (done) return;
        done = true;
        exitInfo = text;
        live.delete(child);
        resolve();
        for (const listener of this.exitListeners) listener({ ...info, requested: this.exitRequested });
      };
      child.once('exit', (code, signal) => ended({ code, signal }, `exited with ${signal ?? `code ${String(code)}`}`));
      child.once('error', (err) => ended({ code: null, signal: null }, err.message));
    });
    if (child.pid) this.onSpawn?.(child.pid);
    const deadline = Date.now() + (spec.readyTimeoutMs ?? 30_000);
    let lastError = 'not ready';
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new MeridianError('MERIDIAN_ERR_HARNESS_START', { name: spec.name, ms: spec.readyTimeoutMs ?? 30_000, reason: `${exitInfo}${spec.logFile ? `; see ${spec.logFile}` : ''}` });
      }
      try {
        if (await spec.ready()) return;
      } catch (err) {
        lastError = (err as Error).message;
      }
      await sleep(100);
    }
    await this.kill();
    throw new MeridianError('MERIDIAN_ERR_HARNESS_START', { name: spec.name, ms: spec.readyTimeoutMs ?? 30_000, reason: `${lastError}${spec.logFile ? `; see ${spec.logFile}` : ''}` });
  }

  private async signal(sig: NodeJS.Signals, waitMs: number): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    this.exitRequested = true;
    if (this.frozen && sig !== 'SIGSTOP') {
      child.kill('SIGCONT');
      this.frozen = false;
    }
    const group = this.spec.detached ?? false;
    if (sig === 'SIGKILL') sigkill(child, group);
    else child.kill(sig);
    // A timer of its own, cleared once the child is gone: a pending one kept `meridian up`
    // alive for the whole grace after every process had exited.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([this.exited.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), waitMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      sigkill(child, group);
      await this.exited;
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    await this.signal('SIGTERM', graceMs);
  }

  async kill(): Promise<void> {
    await this.signal('SIGKILL', 5_000);
  }

  /** SIGSTOP: the process holds its sockets but answers nothing. */
  freeze(): void {
    if (this.child && this.running) {
      this.child.kill('SIGSTOP');
      this.frozen = true;
    }
  }

  thaw(): void {
    if (this.child && this.running && this.frozen) {
      this.child.kill('SIGCONT');
      this.frozen = false;
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Resolves when the process has exited. */
  waitExit(): Promise<void> {
    return this.exited;
  }
}
