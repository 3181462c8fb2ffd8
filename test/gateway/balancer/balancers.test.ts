import { describe, expect, it } from 'vitest';
import { RoundRobinBalancer } from '../../../src/balancer/roundrobin.js';
import { LeastConnBalancer } from '../../../src/balancer/least-conn.js';
import { EwmaBalancer, observeLatency } from '../../../src/balancer/ewma.js';
import { ConsistentHashBalancer } from '../../../src/balancer/chash.js';
import { createBalancer } from '../../../src/balancer/index.js';
import type { BalancerNode } from '../../../src/balancer/types.js';

interface N extends BalancerNode {
  health: { available: boolean };
  ewmaAt: number;
}
const node = (key: string, weight = 1): N => ({ key, weight, inflight: 0, ewma: 0, ewmaAt: 0, health: { available: true } });

describe('balancers', () => {
  it('smooth weighted round robin spreads a heavy node out (nginx sequence)', () => {
    const [a, b, c] = [node('a', 5), node('b', 1), node('c', 1)];
    const rr = new RoundRobinBalancer([a, b, c]);
    const seq = Array.from({ length: 7 }, () => rr.select(undefined, undefined, false)?.key).join('');
    expect(seq).toBe('aabacaa');
  });

  it('round robin skips ejected and already-tried nodes; panic lets ejected ones back', () => {
    const [a, b] = [node('a'), node('b')];
    const rr = new RoundRobinBalancer([a, b]);
    a.health.available = false;
    for (let i = 0; i < 4; i++) expect(rr.select(undefined, undefined, false)).toBe(b);
    expect(rr.select(undefined, [b], false)).toBeUndefined();
    expect(rr.select(undefined, [b], true)).toBe(a);
  });

  it('least connections picks the node with fewest requests in flight per weight', () => {
    const [a, b, c] = [node('a'), node('b'), node('c', 2)];
    a.inflight = 3;
    b.inflight = 1;
    c.inflight = 2;
    const lc = new LeastConnBalancer([a, b, c]);
    // score = (in flight + 1) / weight: a 4, b 2, c 1.5
    expect(lc.select(undefined, undefined, false)).toBe(c);
    c.inflight = 4; // c 2.5
    expect(lc.select(undefined, undefined, false)).toBe(b);
  });

  it('peak EWMA prefers the fast node and jumps up at once on a slow answer', () => {
    const [fast, slow] = [node('fast'), node('slow')];
    observeLatency(fast, 5, 1000);
    observeLatency(slow, 50, 1000);
    const e = new EwmaBalancer([fast, slow]);
    expect(e.select(undefined, undefined, false)).toBe(fast);
    observeLatency(fast, 500, 1010);
    expect(fast.ewma).toBe(500);
    expect(e.select(undefined, undefined, false)).toBe(slow);
    // and decays back towards fast answers over time
    for (let t = 2000; t < 60_000; t += 1000) observeLatency(fast, 5, t);
    expect(fast.ewma).toBeLessThan(10);
  });

  it('peak EWMA with many nodes stays on the cheaper of two random picks', () => {
    const nodes = Array.from({ length: 10 }, (_, i) => node(`n${i}`));
    nodes.forEach((n, i) => observeLatency(n, i === 0 ? 1 : 100, 1));
    const e = new EwmaBalancer(nodes);
    let fastPicks = 0;
    for (let i = 0; i < 1000; i++) if (e.select(undefined, undefined, false) === nodes[0]) fastPicks++;
    expect(fastPicks).toBeGreaterThan(150); // ~19% by P2C vs 10% random
  });

  it('consistent hash is stable per key and remaps only about 1/n keys when a node joins', () => {
    const nodes = Array.from({ length: 5 }, (_, i) => node(`10.0.0.${i}:80`));
    const before = new ConsistentHashBalancer(nodes);
    const after = new ConsistentHashBalancer([...nodes, node('10.0.0.9:80')]);
    const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
    let moved = 0;
    const counts = new Map<string, number>();
    for (const k of keys) {
      const x = before.select(k, undefined, false)?.key as string;
      expect(before.select(k, undefined, false)?.key).toBe(x);
      counts.set(x, (counts.get(x) ?? 0) + 1);
      const y = after.select(k, undefined, false)?.key;
      if (x !== y) {
        moved++;
        expect(y).toBe('10.0.0.9:80'); // keys only ever move to the new node
      }
    }
    expect(moved / keys.length).toBeGreaterThan(0.1);
    expect(moved / keys.length).toBeLessThan(0.25); // ideal 1/6 = 0.167
    for (const c of counts.values()) expect(c / keys.length).toBeGreaterThan(0.12); // spread: ideal 0.2
  });

  it('consistent hash walks on to the next node when its node is ejected', () => {
    const nodes = [node('a:1'), node('b:1'), node('c:1')];
    const ch = new ConsistentHashBalancer(nodes);
    const first = ch.select('k', undefined, false) as N;
    first.health.available = false;
    const second = ch.select('k', undefined, false);
    expect(second).not.toBe(first);
    expect(ch.select('k', undefined, false)).toBe(second);
  });

  it('createBalancer maps upstream types', () => {
    expect(createBalancer('roundrobin', [])).toBeInstanceOf(RoundRobinBalancer);
    expect(createBalancer('least_conn', [])).toBeInstanceOf(LeastConnBalancer);
    expect(createBalancer('ewma', [])).toBeInstanceOf(EwmaBalancer);
    expect(createBalancer('chash', [])).toBeInstanceOf(ConsistentHashBalancer);
  });
});
