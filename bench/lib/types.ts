/** One measured figure, compared with a baseline measured side by side in the same run. */
export interface Figure {
  value: number;
  unit: string;
  /** What `value` is compared to, measured in the same run (null when the target is absolute). */
  baseline: number | null;
  /** value / baseline (null without a baseline). */
  ratio: number | null;
  /** Human-readable target, e.g. ">= 0.55x nginx" or "<= 200 ms". */
  target: string;
  pass: boolean;
}

export interface BenchResult {
  name: string;
  description: string;
  date: string;
  /** cpu_steal: share of CPU time the hypervisor gave to other guests during the run (Linux). */
  machine: { cpus: number; node: string; cpu_steal?: number | undefined };
  figures: Record<string, Figure>;
  /** Raw measurements worth keeping (requests/s, latencies…), not judged. */
  details: Record<string, unknown>;
}

export interface Benchmark {
  name: string;
  description: string;
  run(log: (msg: string) => void): Promise<Pick<BenchResult, 'figures' | 'details'>>;
}

/** Builds a figure compared against a baseline: ratio = value / baseline, checked against `min`/`max`. */
export function ratioFigure(value: number, baseline: number, unit: string, bound: { min?: number; max?: number }, label: string): Figure {
  const ratio = baseline === 0 ? 0 : value / baseline;
  const pass = (bound.min === undefined || ratio >= bound.min) && (bound.max === undefined || ratio <= bound.max);
  const target = [bound.min !== undefined ? `>= ${bound.min}x ${label}` : '', bound.max !== undefined ? `<= ${bound.max}x ${label}` : ''].filter(Boolean).join(', ');
  return { value, unit, baseline, ratio, target, pass };
}

/** A figure with an absolute bound (no baseline). */
export function absoluteFigure(value: number, unit: string, bound: { min?: number; max?: number }): Figure {
  const pass = (bound.min === undefined || value >= bound.min) && (bound.max === undefined || value <= bound.max);
  const target = [bound.min !== undefined ? `>= ${bound.min} ${unit}` : '', bound.max !== undefined ? `<= ${bound.max} ${unit}` : ''].filter(Boolean).join(', ');
  return { value, unit, baseline: null, ratio: null, target, pass };
}
