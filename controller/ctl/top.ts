import type { TrafficPoint, TrafficRow } from '../traffic/window.js';
import type { TrafficReport } from '../traffic/scraper.js';
import type { CtlClient } from './client.js';
import { table } from './table.js';

/** How often `ctl top` redraws on a terminal. */
export const TOP_REFRESH_MS = 2_000;

const num = (n: number): string => (n === 0 ? '0' : n < 10 ? n.toFixed(2) : n.toFixed(1));
const ms = (n: number | null): string => (n === null ? '-' : `${n < 10 ? n.toFixed(1) : Math.round(n)}ms`);
const cells = (p: TrafficPoint): string[] => [num(p.rps), num(p.r4xx), num(p.r5xx), ms(p.p99_ms)];

/** The current per-region and per-route rates as two tables. */
export function topText(r: TrafficReport): string {
  const rows = (list: TrafficRow[]) => list.map((x) => [x.name, ...cells(x.current)]);
  const at = r.times.length ? new Date(r.times[r.times.length - 1] as number).toISOString() : '-';
  const failed = r.nodes.failed.map((f) => `scrape of ${f.node} failed: ${f.error}\n`).join('');
  const head = `traffic at ${at} (${r.nodes.scraped} node(s) scraped every ${r.interval_ms / 1000}s)${r.ready ? '' : ', collecting: rates need two scrapes'}\n`;
  return `${head}${failed}\n${table(['REGION', 'REQ/S', '4XX/S', '5XX/S', 'P99'], rows(r.regions))}\n${table(['ROUTE', 'REQ/S', '4XX/S', '5XX/S', 'P99'], rows(r.routes))}`;
}

/**
 * --once: waits (within `timeoutMs`) until the controller has rates (its scraper starts at the
 * first request) and prints them once. Otherwise redraws every 2 s until interrupted; on a
 * terminal the screen is cleared first.
 */
export async function top(api: CtlClient, opts: { once: boolean; timeoutMs: number; write: (s: string) => void; tty: boolean }): Promise<TrafficReport> {
  const get = async (): Promise<TrafficReport> => (await api.call('GET', '/v1/traffic')).body as unknown as TrafficReport;
  if (opts.once) {
    const deadline = Date.now() + opts.timeoutMs;
    let r = await get();
    while (!r.ready && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, Math.min(500, r.interval_ms)));
      r = await get();
    }
    opts.write(topText(r));
    return r;
  }
  for (;;) {
    const r = await get();
    opts.write(`${opts.tty ? '\x1b[H\x1b[2J' : ''}${topText(r)}`);
    await new Promise((res) => setTimeout(res, TOP_REFRESH_MS));
  }
}
