import type { PassiveHealth } from '../core/model/index.js';

/** Defaults of `checks.passive` (the model states them); passive health is on unless failures is huge. */
export const PASSIVE_DEFAULTS: PassiveHealth = { failures: 3, on_5xx: true, base_ejection_ms: 5_000, max_ejection_ms: 300_000, panic_threshold: 0.5 };

/** Passive health of one node (host:port) of one upstream. */
export interface HealthState {
  readonly key: string;
  available: boolean;
  /** Consecutive failures (connection errors, timeouts, 5xx when counted). */
  consecutive: number;
  /** Ejections in a row: each one doubles the ejection time. */
  ejections: number;
  ejectedUntil: number;
  lastEjectionAt: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Ejection bookkeeping for one upstream, keyed by node host:port so it survives node-list
 * refreshes from discovery and config rebuilds: a flapping node stays ejected even when its
 * upstream's node list is rebuilt around it.
 */
export class PassiveHealthTracker {
  private readonly states = new Map<string, HealthState>();
  private readonly listeners = new Set<() => void>();

  constructor(public settings: PassiveHealth = PASSIVE_DEFAULTS) {}

  state(key: string): HealthState {
    let s = this.states.get(key);
    if (!s) {
      s = { key, available: true, consecutive: 0, ejections: 0, ejectedUntil: 0, lastEjectionAt: 0, timer: undefined };
      this.states.set(key, s);
    }
    return s;
  }

  /** Told whenever a node is ejected or returns (panic mode and metrics follow). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  success(s: HealthState): void {
    if (s.consecutive !== 0) s.consecutive = 0;
  }

  failure(s: HealthState, now = Date.now()): void {
    s.consecutive++;
    if (!s.available || s.consecutive < this.settings.failures) return;
    const { base_ejection_ms: base, max_ejection_ms: max } = this.settings;
    // A node that behaved for a full max-ejection period starts again from the base time.
    if (now - s.lastEjectionAt > max + base * 2 ** s.ejections) s.ejections = 0;
    s.ejections++;
    const ms = Math.min(max, base * 2 ** (s.ejections - 1));
    s.available = false;
    s.ejectedUntil = now + ms;
    s.lastEjectionAt = now;
    s.timer = setTimeout(() => this.readmit(s), ms);
    s.timer.unref();
    this.emit();
  }

  private readmit(s: HealthState): void {
    s.timer = undefined;
    s.available = true;
    s.consecutive = 0;
    this.emit();
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  /**
   * Forget nodes not in `keep` (gone from every list), so the map stays bounded. An ejected
   * node is kept until its ejection ends: an unhealthy instance often also fails its Consul
   * check, leaves the list and comes back, and must not come back un-ejected.
   */
  prune(keep: ReadonlySet<string>): void {
    for (const [key, s] of this.states) {
      if (keep.has(key) || !s.available) continue;
      this.states.delete(key);
    }
  }

  stop(): void {
    for (const s of this.states.values()) if (s.timer) clearTimeout(s.timer);
    this.listeners.clear();
  }
}
