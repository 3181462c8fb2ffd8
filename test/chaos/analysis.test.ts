import { describe, expect, it } from 'vitest';
import { analyse, bucketize } from '../../chaos/analysis.js';
import type { Sample } from '../../chaos/client.js';
import { timelineSvg } from '../../chaos/svg.js';

function samples(spec: Array<[atMs: number, ok: boolean, node?: string, retried?: boolean]>): Sample[] {
  return spec.map(([at, ok, node = 'a', retried = false]) => ({ at, ok, latencyMs: 5, retried, status: ok ? 200 : 0, node }));
}

describe('chaos analysis', () => {
  it('counts failures after retry and finds the recovery second', () => {
    const s = samples([
      [100, true], [900, true], [1100, true], // second 0, 1: fine
      [2100, false], [2200, true], // second 2: 50%
      [3100, true], [3500, true], [4100, true],
    ]);
    const a = analyse(s, 2000, { maxFailedShare: 0.2, maxRecoverMs: 1500 });
    expect(a.failed).toBe(1);
    expect(a.failedShare).toBeCloseTo(1 / 8);
    expect(a.recoverMs).toBe(1000); // second 2 ends at 3000 ms, the fault was at 2000 ms
    expect(a.pass).toBe(true);
    expect(analyse(s, 2000, { maxFailedShare: 0.1 }).pass).toBe(false);
  });

  it('time to detect is the last request sent first to a faulty node', () => {
    const s = samples([[500, true, 'a'], [1500, true, 'b', true], [2600, true, 'a'], [4000, true, 'b']]);
    const a = analyse(s, 1000, { maxFailedShare: 0, maxDetectMs: 1000 }, ['a']);
    expect(a.detectMs).toBe(1600);
    expect(a.checks.find((c) => c.what.startsWith('time to detect'))?.pass).toBe(false);
    // After the fault is undone, traffic on the node is expected again and does not count.
    expect(analyse(s, 1000, { maxFailedShare: 0 }, ['a'], 2000).detectMs).toBe(500);
  });

  it('no samples is a failure, not a pass', () => {
    expect(analyse([], 0, { maxFailedShare: 1 }).pass).toBe(false);
  });

  it('the timeline has both lines and the marks', () => {
    const svg = timelineSvg('t <1>', bucketize(samples([[100, true], [1200, false]])), [{ atMs: 1000, label: 'fault', color: 'red' }]);
    expect(svg).toContain('<polyline');
    expect(svg).toContain('fault');
    expect(svg).toContain('t &lt;1>');
  });
});
