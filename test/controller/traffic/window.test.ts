import { describe, expect, it } from 'vitest';
import { parsePromText } from '../../../controller/traffic/prom-text.js';
import { quantileMs, TrafficWindow, WANTED, type NodeScrape } from '../../../controller/traffic/window.js';

const REQ = 'meridian_http_requests_total';
const BUCKET = 'meridian_http_request_duration_seconds_bucket';

/** A node's /metrics as the gateway writes it: requests by route and code, one histogram per route. */
function exposition(routes: Record<string, { ok: number; e5: number; buckets: [string, number][] }>): string {
  const lines = ['# HELP meridian_http_requests_total requests', '# TYPE meridian_http_requests_total counter'];
  for (const [route, r] of Object.entries(routes)) {
    lines.push(`${REQ}{route="${route}",upstream="u1",code="200"} ${r.ok}`, `${REQ}{route="${route}",upstream="u1",code="503"} ${r.e5}`);
    for (const [le, n] of r.buckets) lines.push(`${BUCKET}{le="${le}",route="${route}"} ${n}`);
    lines.push(`meridian_http_request_duration_seconds_sum{route="${route}"} 1`, 'meridian_config_revision 7');
  }
  return lines.join('\n');
}
const scrape = (region: string, node: string, text: string): NodeScrape => ({ region, node, samples: parsePromText(text, WANTED) });

describe('parsePromText', () => {
  it('keeps the wanted metrics with their labels, escapes undone, and skips the rest', () => {
    const s = parsePromText(`${REQ}{route="a\\"b",upstream="u",code="200"} 3\nother_total 9\n# comment\n${BUCKET}{route="r",le="+Inf"} 4\n`, WANTED);
    expect(s).toEqual([
      { name: REQ, labels: { route: 'a"b', upstream: 'u', code: '200' }, value: 3 },
      { name: BUCKET, labels: { route: 'r', le: '+Inf' }, value: 4 },
    ]);
  });
});

describe('quantileMs', () => {
  it('interpolates inside the bucket the rank falls in, and answers the largest finite bound in +Inf', () => {
    expect(quantileMs(new Map([[0.01, 0], [0.1, 100], [Infinity, 100]]), 0.99)).toBe(99.1);
    expect(quantileMs(new Map([[0.01, 50], [0.1, 50], [Infinity, 100]]), 0.99)).toBe(100);
    expect(quantileMs(new Map([[0.01, 0], [Infinity, 0]]), 0.99)).toBeNull();
  });
});

describe('TrafficWindow', () => {
  it('turns counter deltas between two scrapes into rates per region and route; a reset counter counts from zero', () => {
    const w = new TrafficWindow({ windowMs: 60_000, intervalMs: 1000, maxRoutes: 10 });
    const b = (n: number): [string, number][] => [['0.01', 0], ['0.1', n], ['+Inf', n]];
    w.add(0, [scrape('east', 'east/c1/a', exposition({ shop: { ok: 100, e5: 0, buckets: b(100) } }))], ['east', 'west']);
    w.add(2000, [scrape('east', 'east/c1/a', exposition({ shop: { ok: 120, e5: 10, buckets: b(130) } }))], ['east', 'west']);
    let r = w.report();
    expect(r.times).toEqual([0, 2000]);
    const east = r.regions.find((x) => x.name === 'east');
    // The first round has no rate (null, not zero); the second does.
    expect(east?.series.rps).toEqual([null, 15]);
    expect(east?.current).toEqual({ rps: 15, r4xx: 0, r5xx: 5, p99_ms: 99.1 });
    expect(r.regions.find((x) => x.name === 'west')?.current).toEqual({ rps: 0, r4xx: 0, r5xx: 0, p99_ms: null });
    expect(r.routes.map((x) => [x.name, x.series.rps])).toEqual([['shop', [null, 15]]]);
    // The node restarted: its counters start again from zero.
    w.add(3000, [scrape('east', 'east/c1/a', exposition({ shop: { ok: 4, e5: 0, buckets: b(4) } }))], ['east', 'west']);
    r = w.report();
    expect(r.routes[0]?.current.rps).toBe(4);
  });

  it('keeps at most the window\'s samples and the busiest maxRoutes routes of each round', () => {
    const w = new TrafficWindow({ windowMs: 5000, intervalMs: 1000, maxRoutes: 2 });
    for (let i = 0; i <= 20; i++) {
      w.add(i * 1000, [scrape('east', 'n', exposition({ a: { ok: i, e5: 0, buckets: [] }, b: { ok: 2 * i, e5: 0, buckets: [] }, c: { ok: 3 * i, e5: 0, buckets: [] } }))], ['east']);
    }
    const r = w.report();
    expect(r.times).toEqual([15_000, 16_000, 17_000, 18_000, 19_000, 20_000]);
    expect(r.routes.map((x) => [x.name, x.current.rps])).toEqual([['c', 3], ['b', 2]]);
  });
});
