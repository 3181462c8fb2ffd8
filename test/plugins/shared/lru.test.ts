import { describe, expect, it } from 'vitest';
import { Lru } from '../../../src/plugins/shared/lru.js';

describe('Lru', () => {
  it('keeps at most max entries, pushing out the least recently used', () => {
    const l = new Lru<string, number>(3);
    l.set('a', 1);
    l.set('b', 2);
    l.set('c', 3);
    expect(l.get('a')).toBe(1); // a is now the most recent; b the oldest
    l.set('d', 4);
    expect(l.size).toBe(3);
    expect(l.get('b')).toBeUndefined();
    expect([l.get('a'), l.get('c'), l.get('d')]).toEqual([1, 3, 4]);
  });

  it('a key read between inserts survives a flood of new keys; unread ones go, oldest first', () => {
    const l = new Lru<string, number>(4);
    l.set('hot', 0);
    for (let i = 0; i < 1_000; i++) {
      expect(l.get('hot')).toBe(0);
      l.set(`k${i}`, i);
      expect(l.size).toBeLessThanOrEqual(4);
    }
    // Of the flood, the newest three remain (each went in unread, so the oldest went first).
    expect([l.get('k996'), l.get('k997'), l.get('k998'), l.get('k999')]).toEqual([undefined, 997, 998, 999]);
  });

  it('evicts in order after the sweep wrapped round the map, and again after clear()', () => {
    const l = new Lru<string, number>(3);
    for (const k of ['a', 'b', 'c']) l.set(k, 1);
    l.set('d', 1); // evicts a
    l.get('b');
    l.set('e', 1); // b had a second chance: c goes
    expect(['a', 'b', 'c', 'd', 'e'].map((k) => l.get(k) !== undefined)).toEqual([false, true, false, true, true]);
    l.clear();
    for (const k of ['x', 'y', 'z', 'w']) l.set(k, 2);
    expect(['x', 'y', 'z', 'w'].map((k) => l.get(k) !== undefined)).toEqual([false, true, true, true]);
  });

  it('overwriting a key neither grows it nor evicts another', () => {
    const l = new Lru<string, number>(2);
    l.set('a', 1);
    l.set('b', 2);
    l.set('a', 10);
    expect(l.size).toBe(2);
    expect([l.get('a'), l.get('b')]).toEqual([10, 2]);
    l.delete('a');
    expect(l.size).toBe(1);
    l.clear();
    expect(l.size).toBe(0);
  });
});
