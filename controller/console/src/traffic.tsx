import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { api } from './api';
// The controller's own declarations (types only: nothing of it is bundled).
import type { TrafficReport } from '../../traffic/scraper.js';
import type { TrafficPoint, TrafficRow } from '../../traffic/window.js';
import { usePoll } from './nav';
import { Chart } from './chart';
import { POLL_MS } from './overview';
import './traffic.css';

const rate = (n: number): string => (n === 0 ? '0' : n < 10 ? n.toFixed(2) : n.toFixed(1));
const ms = (n: number | null): string => (n === null ? '—' : `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`);

function Cells(props: { p: TrafficPoint }): JSX.Element {
  const p = props.p;
  return (
    <>
      <td class="num">{rate(p.rps)}</td>
      <td class={`num${p.r4xx > 0 ? ' text-warn' : ''}`}>{rate(p.r4xx)}</td>
      <td class={`num${p.r5xx > 0 ? ' text-bad' : ''}`}>{rate(p.r5xx)}</td>
      <td class="num">{ms(p.p99_ms)}</td>
    </>
  );
}

function RegionCharts(props: { row: TrafficRow; times: number[] }): JSX.Element {
  const { row, times } = props;
  return (
    <section class="region traffic-region" data-region={row.name}>
      <h2>{row.name}</h2>
      <p class="facts">now: {rate(row.current.rps)} req/s · {rate(row.current.r4xx)} 4xx/s · {rate(row.current.r5xx)} 5xx/s · p99 {ms(row.current.p99_ms)}</p>
      <div class="charts">
        <Chart testid="chart-requests" title="Requests" unit="req/s" times={times} lines={[{ label: 'all', tone: 'tone-line-all', values: row.series.rps }]} />
        <Chart testid="chart-errors" title="Errors" unit="per s" times={times} lines={[
          { label: '4xx', tone: 'tone-line-warn', values: row.series.r4xx },
          { label: '5xx', tone: 'tone-line-bad', values: row.series.r5xx },
        ]} />
        <Chart testid="chart-p99" title="Latency p99" unit="ms" times={times} lines={[{ label: 'p99', tone: 'tone-line-all', values: row.series.p99_ms }]} />
      </div>
    </section>
  );
}

/** Per-region charts over the last 15 minutes and the per-route table, polled every 2 s. */
export function Traffic(): JSX.Element {
  const [report, setReport] = useState<TrafficReport | null>(null);
  const [error, setError] = useState('');
  usePoll(async () => {
    try {
      setReport(await api<TrafficReport>('GET', '/v1/traffic'));
      setError('');
    } catch (err) {
      setError((err as Error).message);
    }
  }, POLL_MS);

  return (
    <div class="traffic">
      <h1>Traffic</h1>
      {report ? (
        <p class="facts" data-testid="traffic-facts">
          {report.nodes.scraped} gateway node(s) scraped every {report.interval_ms / 1000} s · last {Math.round(report.window_ms / 60_000)} minutes
          {report.ready ? null : <span class="muted"> · collecting: rates appear after the second scrape</span>}
        </p>
      ) : null}
      {error && <p class="error" role="alert">Cannot read the traffic: {error}</p>}
      {report === null && !error ? <p class="loading">Loading…</p> : null}
      {report?.nodes.failed.map((f) => <p key={f.node} class="error">Scrape of {f.node} failed: {f.error}</p>)}
      {report?.regions.map((r) => <RegionCharts key={r.name} row={r} times={report.times} />)}
      {report ? (
        <section class="region">
          <h2>Routes</h2>
          {report.routes.length === 0 ? <p class="muted">No route has seen traffic in the window.</p> : (
            <table data-testid="traffic-routes">
              <thead><tr><th>Route</th><th class="num">req/s</th><th class="num">4xx/s</th><th class="num">5xx/s</th><th class="num">p99</th></tr></thead>
              <tbody>{report.routes.map((r) => <tr key={r.name} data-route={r.name}><td class="mono">{r.name}</td><Cells p={r.current} /></tr>)}</tbody>
            </table>
          )}
        </section>
      ) : null}
    </div>
  );
}
