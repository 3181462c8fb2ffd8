import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
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
  /** stdout+stderr go here (appended); default: discarded. */
  logFile?: string;
  /** Resolves true once the process serves; polled until `readyTimeoutMs`. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** cgroup v2 folder the process runs in (chaos partitions filter by it); default: ours. */
  cgroup?: string;
}

/** Tracks every live child so an exiting parent can take them down with it. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try {
        if (child.pid) process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** A real server process: start, wait until ready, stop/kill/freeze/thaw, restart. */
export class ManagedProcess {
  readonly spec: ProcessSpec;
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private exited: Promise<void> = Promise.resolve();
  private frozen = false;
  onSpawn: ((pid: number) => void) | undefined;

  constructor(spec: ProcessSpec) {
    this.spec = spec;
    installExitHook();
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
    if (spec.logFile) {
      mkdirSync(dirname(spec.logFile), { recursive: true });
      this.log = createWriteStream(spec.logFile, { flags: 'a' });
    }
    const run = spec.cgroup ? inCgroup(spec.cgroup, spec.command, spec.args) : spec;
    const child = spawn(run.command, run.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', this.log ? 'pipe' : 'ignore', this.log ? 'pipe' : 'ignore'],
    });
    this.child = child;
    live.add(child);
    let exitInfo = '';
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = `exited with ${signal ?? `code ${String(code)}`}`;
        live.delete(child);
        resolve();
      });
      child.once('error', (err) => {
        exitInfo = err.message;
        live.delete(child);
        resolve();
      });
    });
    if (this.log) {
      child.stdout?.pipe(this.log, { end: false });
      child.stderr?.pipe(this.log, { end: false });
    }
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
    if (this.frozen && sig !== 'SIGSTOP') {
      child.kill('SIGCONT');
      this.frozen = false;
    }
    child.kill(sig);
    // A timer of its own, cleared once the child is gone: a pending one kept `meridian up`
    // alive for the whole grace after every process had exited.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([this.exited.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), waitMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      child.kill('SIGKILL');
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
