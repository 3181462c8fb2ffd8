import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ExitInfo } from '../../src/core/servers/managed-process.js';
import { DEFAULT_RESTART_POLICY, formatEvent, restartDelayMs, Supervisor, type Supervisable, type SupervisorEvent } from '../../src/cli/up/supervisor.js';

/** A process that starts at once (or fails to) and crashes when told. */
class FakeProcess implements Supervisable {
  running = true;
  pid: number | undefined = 100;
  starts = 0;
  failStart = false;
  private listeners: Array<(info: ExitInfo) => void> = [];

  onExit(listener: (info: ExitInfo) => void): void {
    this.listeners.push(listener);
  }

  async start(): Promise<void> {
    this.starts++;
    if (this.failStart) throw new Error('did not become ready');
    this.running = true;
    this.pid = 100 + this.starts;
  }

  exit(info: Partial<ExitInfo> = {}): void {
    this.running = false;
    for (const l of this.listeners) l({ code: null, signal: 'SIGKILL', requested: false, ...info });
  }
}

describe('meridian up supervisor (fake timers)', () => {
  let events: SupervisorEvent[];
  let sup: Supervisor;
  let proc: FakeProcess;

  beforeEach(() => {
    vi.useFakeTimers();
    events = [];
    sup = new Supervisor((e) => events.push(e), DEFAULT_RESTART_POLICY, () => Date.now());
    proc = new FakeProcess();
    sup.add('gateway-east-1', proc);
  });
  afterEach(() => {
    sup.stop();
    vi.useRealTimers();
  });

  it('backs off 0.5 s doubling to 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => restartDelayMs(DEFAULT_RESTART_POLICY, n))).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
  });

  it('restarts a crashed process after the backoff and says so', async () => {
    proc.exit();
    expect(formatEvent(events[0] as SupervisorEvent)).toBe('gateway-east-1 exited (signal SIGKILL); restarting in 0.5 s (restart 1)');
    await vi.advanceTimersByTimeAsync(499);
    expect(proc.starts).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(proc.starts).toBe(1);
    expect(events.at(-1)).toEqual({ type: 'restarted', name: 'gateway-east-1', pid: 101, restart: 1 });
    // A second quick crash waits twice as long.
    proc.exit({ signal: null, code: 1 });
    expect(formatEvent(events.at(-1) as SupervisorEvent)).toBe('gateway-east-1 exited (code 1); restarting in 1.0 s (restart 2)');
  });

  it('counts afresh after 60 s of running', async () => {
    proc.exit();
    await vi.advanceTimersByTimeAsync(500);
    await vi.advanceTimersByTimeAsync(60_000);
    proc.exit();
    expect(events.at(-1)).toMatchObject({ type: 'exited', restart: 1, delayMs: 500 });
  });

  it('gives up when it still crashes after 8 quick restarts (failed starts count), and says so', async () => {
    proc.failStart = true;
    proc.exit();
    await vi.advanceTimersByTimeAsync(10 * 30_000);
    expect(proc.starts).toBe(8);
    expect(events.filter((e) => e.type === 'restart-failed')).toHaveLength(8);
    const last = events.at(-1) as SupervisorEvent;
    expect(last.type).toBe('gave-up');
    expect(formatEvent(last)).toContain('again after 8 quick restarts in a row; giving up');
    expect(sup.stateOf('gateway-east-1')?.state).toBe('failed');
  });

  it('leaves alone an exit that was asked for, and restarts nothing once stopped', async () => {
    proc.exit({ requested: true, signal: 'SIGTERM' });
    expect(events).toEqual([]);
    proc.running = true;
    proc.exit();
    sup.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(proc.starts).toBe(0);
  });
});
