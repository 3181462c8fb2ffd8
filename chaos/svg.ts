import type { Bucket } from './analysis.js';

/**
 * A timeline: success rate per second (green line, left axis 0-100%), p99 latency per second
 * (blue line, right axis), fault and recovery marked with vertical lines.
 */
export function timelineSvg(title: string, buckets: readonly Bucket[], marks: Array<{ atMs: number; label: string; color: string }>): string {
  const W = 760, H = 260, L = 50, R = 60, T = 30, B = 35;
  const plotW = W - L - R, plotH = H - T - B;
  const maxSec = Math.max(1, ...buckets.map((b) => b.second + 1), ...marks.map((m) => m.atMs / 1000));
  const maxLat = Math.max(10, ...buckets.map((b) => b.p99Ms));
  const x = (sec: number) => L + (sec / maxSec) * plotW;
  const ySucc = (rate: number) => T + (1 - rate) * plotH;
  const yLat = (ms: number) => T + (1 - ms / maxLat) * plotH;
  const succ = buckets.map((b) => `${x(b.second + 0.5).toFixed(1)},${ySucc(b.total ? b.ok / b.total : 0).toFixed(1)}`).join(' ');
  const lat = buckets.map((b) => `${x(b.second + 0.5).toFixed(1)},${yLat(b.p99Ms).toFixed(1)}`).join(' ');
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const ticks = Array.from({ length: Math.floor(maxSec / 5) + 1 }, (_, i) => i * 5)
    .map((s) => `<line x1="${x(s)}" y1="${T + plotH}" x2="${x(s)}" y2="${T + plotH + 4}" stroke="#333"/><text x="${x(s)}" y="${T + plotH + 16}" font-size="10" text-anchor="middle">${s}s</text>`).join('');
  const markLines = marks.map((m) => `<line x1="${x(m.atMs / 1000)}" y1="${T}" x2="${x(m.atMs / 1000)}" y2="${T + plotH}" stroke="${m.color}" stroke-dasharray="4 3"/><text x="${x(m.atMs / 1000) + 3}" y="${T + 10}" font-size="10" fill="${m.color}">${esc(m.label)}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${L}" y="18" font-size="13" font-weight="bold">${esc(title)}</text>
<rect x="${L}" y="${T}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>
<text x="${L - 6}" y="${T + 4}" font-size="10" text-anchor="end">100%</text>
<text x="${L - 6}" y="${T + plotH}" font-size="10" text-anchor="end">0%</text>
<text x="${L + plotW + 6}" y="${T + 4}" font-size="10">${maxLat.toFixed(0)} ms</text>
<text x="${L + plotW + 6}" y="${T + plotH}" font-size="10">0 ms</text>
${ticks}
<polyline points="${succ}" fill="none" stroke="#2a9d3a" stroke-width="2"/>
<polyline points="${lat}" fill="none" stroke="#2a5bd7" stroke-width="1.5"/>
${markLines}
<text x="${L}" y="${H - 4}" font-size="10" fill="#2a9d3a">success rate per second</text>
<text x="${L + 160}" y="${H - 4}" font-size="10" fill="#2a5bd7">p99 latency per second</text>
</svg>
`;
}
