import { describe, expect, it } from 'vitest';
import { RiseFall } from '../../health/tracker.js';

describe('RiseFall', () => {
  it('first result sets the state; then fall failures to go down and rise successes to come back', () => {
    const t = new RiseFall(2, 3);
    expect(t.record(true)).toBe(true);
    expect(t.up).toBe(true);
    expect([t.record(false), t.record(false)]).toEqual([false, false]);
    expect(t.record(true)).toBe(false); // a success resets the failure streak
    expect([t.record(false), t.record(false), t.record(false)]).toEqual([false, false, true]);
    expect(t.up).toBe(false);
    expect([t.record(true), t.record(true)]).toEqual([false, true]);
    expect(t.up).toBe(true);
  });
});
