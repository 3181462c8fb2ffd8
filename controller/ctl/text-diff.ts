/** Lines compared at most: above, the resource is shown as removed and added whole. */
const MAX_LINES = 4_000;
/** Unchanged lines shown around each change, as `diff -u` does. */
const CONTEXT = 3;

type Op = { tag: ' ' | '-' | '+'; line: string };

/** Longest common subsequence, line by line (resources are small: a few hundred lines). */
function lineOps(a: string[], b: string[]): Op[] {
  if (a.length > MAX_LINES || b.length > MAX_LINES) return [...a.map((line): Op => ({ tag: '-', line })), ...b.map((line): Op => ({ tag: '+', line }))];
  const n = a.length;
  const m = b.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    const row = lcs[i] as Uint32Array;
    const next = lcs[i + 1] as Uint32Array;
    for (let j = m - 1; j >= 0; j--) row[j] = a[i] === b[j] ? (next[j + 1] as number) + 1 : Math.max(next[j] as number, row[j + 1] as number);
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push({ tag: ' ', line: a[i] as string });
      i++;
      j++;
    } else if (((lcs[i + 1] as Uint32Array)[j] as number) >= ((lcs[i] as Uint32Array)[j + 1] as number)) ops.push({ tag: '-', line: a[i++] as string });
    else ops.push({ tag: '+', line: b[j++] as string });
  }
  while (i < n) ops.push({ tag: '-', line: a[i++] as string });
  while (j < m) ops.push({ tag: '+', line: b[j++] as string });
  return ops;
}

const split = (text: string): string[] => (text === '' ? [] : text.replace(/\n$/, '').split('\n'));

/**
 * A unified diff of two texts (`---`/`+++` headers, `@@` hunks with three lines of context),
 * or '' when they are equal.
 */
export function unifiedDiff(before: string, after: string, labels: { from: string; to: string }): string {
  const ops = lineOps(split(before), split(after));
  if (ops.every((o) => o.tag === ' ')) return '';
  const out = [`--- ${labels.from}`, `+++ ${labels.to}`];
  // Positions (in ops) of changes; hunks join changes closer than 2 * CONTEXT.
  const changes = ops.flatMap((o, k) => (o.tag === ' ' ? [] : [k]));
  let k = 0;
  while (k < changes.length) {
    const start = Math.max(0, (changes[k] as number) - CONTEXT);
    let end = changes[k] as number;
    while (k + 1 < changes.length && (changes[k + 1] as number) - end <= 2 * CONTEXT) end = changes[++k] as number;
    end = Math.min(ops.length - 1, end + CONTEXT);
    k++;
    const before0 = ops.slice(0, start).filter((o) => o.tag !== '+').length;
    const after0 = ops.slice(0, start).filter((o) => o.tag !== '-').length;
    const hunk = ops.slice(start, end + 1);
    const aLen = hunk.filter((o) => o.tag !== '+').length;
    const bLen = hunk.filter((o) => o.tag !== '-').length;
    out.push(`@@ -${aLen === 0 ? before0 : before0 + 1},${aLen} +${bLen === 0 ? after0 : after0 + 1},${bLen} @@`);
    for (const o of hunk) out.push(`${o.tag}${o.line}`);
  }
  return `${out.join('\n')}\n`;
}
