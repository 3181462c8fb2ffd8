import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../../../controller/ctl/text-diff.js';

const labels = { from: 'a', to: 'b' };
const lines = (n: number, f: (i: number) => string = (i) => `line ${i}`) => `${Array.from({ length: n }, (_, i) => f(i)).join('\n')}\n`;

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff('x\ny\n', 'x\ny\n', labels)).toBe('');
  });

  it('shows a change with three lines of context and diff -u hunk headers', () => {
    const before = lines(20);
    const after = lines(20, (i) => (i === 10 ? 'line ten' : `line ${i}`));
    expect(unifiedDiff(before, after, labels)).toBe(['--- a', '+++ b', '@@ -8,7 +8,7 @@', 'line 7', 'line 8', 'line 9', '-line 10', '+line ten', 'line 11', 'line 12', 'line 13', ''].join('\n').replace(/^line/gm, ' line'));
  });

  it('splits distant changes into hunks and joins close ones', () => {
    const before = lines(30);
    const far = unifiedDiff(before, lines(30, (i) => (i === 2 || i === 25 ? `changed ${i}` : `line ${i}`)), labels);
    expect(far.match(/^@@/gm)).toHaveLength(2);
    const near = unifiedDiff(before, lines(30, (i) => (i === 10 || i === 15 ? `changed ${i}` : `line ${i}`)), labels);
    expect(near.match(/^@@/gm)).toHaveLength(1);
  });

  it('shows a created resource as all added and a deleted one as all removed', () => {
    expect(unifiedDiff('', 'a: 1\nb: 2\n', { from: '/dev/null', to: 'x' })).toBe('--- /dev/null\n+++ x\n@@ -0,0 +1,2 @@\n+a: 1\n+b: 2\n');
    expect(unifiedDiff('a: 1\n', '', { from: 'x', to: '/dev/null' })).toBe('--- x\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-a: 1\n');
  });
});
