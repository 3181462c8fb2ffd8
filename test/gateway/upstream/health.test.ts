import { afterEach, describe, expect, it, vi } from 'vitest';
import { PassiveHealthTracker } from '../../../src/upstream/health.js';
import { RuntimeUpstream } from '../../../src/upstream/runtime.js';
import { PoolManager } from '../../../src/upstream/pools.js';
import type { NodeSource } from '../../../src/upstream/node-source.js';
import type { UpstreamNode } from '../../../src/core/model/index.js';

class ListSource implements NodeSource {
  private fn: ((n: readonly UpstreamNode[]) => void) | undefined;
  constructor(private nodes: UpstreamNode[]) {}
  current() {
    return this.nodes;
  }
  subscribe(fn: (n: readonly UpstreamNode[]) => void) {
    this.fn = fn;
    return () => (this.fn = undefined);
  }
  set(nodes: UpstreamNode[]) {
    this.nodes = nodes;
    this.fn?.(nodes);
  }
  async start() {}
  async stop() {}
}

afterEach(() => vi.useRealTimers());

describe('passive health', () => {
  it('ejects after N consecutive failures for a doubling time, capped', () => {
    vi.useFakeTimers();
    const t = new PassiveHealthTracker({ failures: 2, on_5xx: true, base_ejection_ms: 100, max_ejection_ms: 300, panic_threshold: 0.5 });
    const s = t.state('h:1');
    const durations: number[] = [];
    for (let round = 0; round < 4; round++) {
      t.failure(s, Date.now());
      expect(s.available).toBe(true);
      t.failure(s, Date.now());
      expect(s.available).toBe(false);
      durations.push(s.ejectedUntil - Date.now());
      vi.advanceTimersByTime(s.ejectedUntil - Date.now());
      expect(s.available).toBe(true);
    }
    expect(durations).toEqual([100, 200, 300, 300]);
  });

  it('a success resets the failure count', () => {
    const t = new PassiveHealthTracker({ failures: 2, on_5xx: true, base_ejection_ms: 100, max_ejection_ms: 300, panic_threshold: 0.5 });
    const s = t.state('h:1');
    t.failure(s);
    t.success(s);
    t.failure(s);
    expect(s.available).toBe(true);
    t.stop();
  });

  it('keeps ejection state by host:port across node-list refreshes; panic above the threshold', async () => {
    const pools = new PoolManager();
    const source = new ListSource([{ host: '127.0.0.1', port: 1, weight: 1 }, { host: '127.0.0.1', port: 2, weight: 1 }, { host: '127.0.0.1', port: 3, weight: 1 }]);
    const health = new PassiveHealthTracker();
    const u = new RuntimeUpstream({ id: 'u', type: 'roundrobin', scheme: 'http', pass_host: 'pass', retries: 1, checks: { passive: { failures: 1, on_5xx: true, base_ejection_ms: 60_000, max_ejection_ms: 60_000, panic_threshold: 0.5 } } }, source, pools, health);
    const one = u.select(undefined, undefined);
    health.failure(one!.health);
    expect(u.status().filter((n) => n.state === 'ejected').map((n) => n.node)).toEqual([one!.key]);
    // discovery refresh: same node comes back in a new list, still ejected
    source.set([{ host: '127.0.0.1', port: 3, weight: 1 }, { host: '127.0.0.1', port: 2, weight: 1 }, { host: '127.0.0.1', port: 1, weight: 1 }]);
    expect(u.status().find((n) => n.node === one!.key)?.state).toBe('ejected');
    for (let i = 0; i < 10; i++) expect(u.select(undefined, undefined)?.key).not.toBe(one!.key);
    expect(u.panic).toBe(false);
    // two of three ejected (> 0.5): panic, every node is used again
    const other = u.select(undefined, undefined);
    health.failure(other!.health);
    expect(u.panic).toBe(true);
    const seen = new Set(Array.from({ length: 9 }, () => u.select(undefined, undefined)?.key));
    expect(seen.size).toBe(3);
    expect(pools.size).toBe(3);
    source.set([{ host: '127.0.0.1', port: 3, weight: 1 }]);
    expect(pools.size).toBe(1); // departed nodes' pools are closed
    u.dispose();
    health.stop();
    await pools.closeAll();
  });
});
