import { describe, expect, it } from 'vitest';
import { pruneMap } from '../../../src/plugins/shared/prune.js';

describe('pruneMap', () => {
  it('removes dead entries first and keeps the live ones when that makes room', () => {
    const m = new Map<string, number>();
    for (let i = 0; i < 10; i++) m.set(`k${i}`, i);
    pruneMap(m, 10, (v) => v % 2 === 0);
    expect([...m.keys()]).toEqual(['k1', 'k3', 'k5', 'k7', 'k9']);
  });

  it('drops the oldest inserted down to 90 % of max when too few are dead', () => {
    const m = new Map<string, number>();
    for (let i = 0; i < 20; i++) m.set(`k${i}`, i);
    pruneMap(m, 20, (v) => v === 5);
    expect(m.size).toBe(18);
    expect(m.has('k5')).toBe(false);
    expect(m.has('k0')).toBe(false); // oldest goes
    expect(m.has('k1')).toBe(true);
    expect(m.has('k19')).toBe(true);
  });
});
