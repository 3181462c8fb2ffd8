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
