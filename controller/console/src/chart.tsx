import type { JSX } from 'preact';

/** One line of a chart: its values align with the chart's times (null: a gap). */
export interface Line {
  label: string;
  /** CSS class giving the stroke colour (attributes and classes only: the CSP allows no inline style). */
  tone: string;
  values: readonly (number | null)[];
}

const W = 560;
const H = 150;
const PAD = { left: 48, right: 8, top: 8, bottom: 20 };

/** A round upper bound for the y axis (1, 2 or 5 times a power of ten). */
export function niceMax(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

const clock = (t: number): string => new Date(t).toISOString().slice(11, 19);
const axis = (n: number): string => (n >= 1000 ? `${n / 1000}k` : String(Math.round(n * 100) / 100));

/** A small SVG line chart over time: y from 0 to a round maximum, the window's first and last times on x. */
export function Chart(props: { title: string; unit: string; times: readonly number[]; lines: Line[]; testid?: string }): JSX.Element {
  const { times, lines } = props;
  const t0 = times[0] ?? 0;
  const t1 = times[times.length - 1] ?? t0;
  const max = niceMax(Math.max(0, ...lines.flatMap((l) => l.values.filter((v): v is number => v !== null))));
  const x = (t: number): number => PAD.left + (t1 > t0 ? ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right) : 0);
  const y = (v: number): number => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  const path = (values: readonly (number | null)[]): string => {
    let d = '';
    let pen = false;
    values.forEach((v, i) => {
      if (v === null) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(times[i] as number).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    return d;
  };
  return (
    <figure class="chart" data-testid={props.testid}>
      <figcaption>
        {props.title} <span class="muted">({props.unit})</span>
        {lines.map((l) => <span key={l.label} class={`legend ${l.tone}`}>{l.label}</span>)}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${props.title} over the last ${times.length} samples`}>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line class="grid" x1={PAD.left} x2={W - PAD.right} y1={y(max * f)} y2={y(max * f)} />
            <text class="tick" x={PAD.left - 4} y={y(max * f) + 4} text-anchor="end">{axis(max * f)}</text>
          </g>
        ))}
        {times.length > 0 ? <text class="tick" x={PAD.left} y={H - 4}>{clock(t0)}</text> : null}
        {times.length > 1 ? <text class="tick" x={W - PAD.right} y={H - 4} text-anchor="end">{clock(t1)}</text> : null}
        {lines.map((l) => <path key={l.label} class={`line ${l.tone}`} d={path(l.values)} />)}
      </svg>
    </figure>
  );
}
