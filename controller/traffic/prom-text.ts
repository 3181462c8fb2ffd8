/** One sample line of the Prometheus text format. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/g;

const unescape = (v: string): string => v.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));

/**
 * The samples of the metrics named in `wanted` (other lines are skipped before their labels are
 * read, so a large exposition costs little beyond the lines we keep).
 */
export function parsePromText(text: string, wanted: ReadonlySet<string>): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m || !wanted.has(m[1] as string)) continue;
    const labels: Record<string, string> = {};
    if (m[2]) for (const l of m[2].matchAll(LABEL)) labels[l[1] as string] = unescape(l[2] as string);
    const value = Number(m[3]);
    if (Number.isFinite(value)) out.push({ name: m[1] as string, labels, value });
  }
  return out;
}
