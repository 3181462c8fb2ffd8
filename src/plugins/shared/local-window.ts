import { Lru } from './lru.js';

export interface Decision {
  allowed: boolean;
  remaining: number;
  /** ms until the window frees capacity (reset, or Retry-After when rejected) */
  resetMs: number;
}

interface Counter {
  idx: number;
  cur: number;
  prev: number;
}

/**
 * In-memory fixed / sliding window counters: the `local` policy, and the fallback used within
 * the same request when Redis is unavailable. Same arithmetic as the Lua scripts, so a switch
 * between them changes the scope of the count (this worker) but not the rule.
 */
export class LocalWindows {
  private readonly counters = new Lru<string, Counter>(100_000);

  take(key: string, limit: number, windowMs: number, sliding: boolean, cost = 1, now = Date.now()): Decision {
    const idx = Math.floor(now / windowMs);
    let c = this.counters.get(key);
    if (!c) {
      c = { idx, cur: 0, prev: 0 };
      this.counters.set(key, c);
    } else if (c.idx !== idx) {
      c.prev = c.idx === idx - 1 ? c.cur : 0;
      c.cur = 0;
      c.idx = idx;
    }
    const elapsed = now - idx * windowMs;
    const toEnd = windowMs - elapsed;
    const est = sliding ? (c.prev * toEnd) / windowMs + c.cur : c.cur;
    if (est + cost > limit) return { allowed: false, remaining: 0, resetMs: sliding ? slidingWait(c.cur, c.prev, limit, cost, windowMs, elapsed) : toEnd };
    c.cur += cost;
    return { allowed: true, remaining: Math.max(0, Math.floor(limit - est - cost)), resetMs: toEnd };
  }

  clear(): void {
    this.counters.clear();
  }
}

/** Time until the previous window's weight has decayed enough for `cost` more requests. */
export function slidingWait(cur: number, prev: number, limit: number, cost: number, windowMs: number, elapsed: number): number {
  const room = limit - cur - cost;
  if (room < 0 || prev <= 0) return windowMs - elapsed;
  const needElapsed = windowMs * (1 - room / prev);
  return Math.max(1, Math.ceil(needElapsed - elapsed));
}
