import { describe, expect, it } from 'vitest';
import { nextIndex } from '../../controller/purge/service-watch.js';
import { parseSamples } from '../../controller/deploy/error-rate.js';

describe('blocking-query index rules', () => {
  it('grows, resets when it goes backwards or is unreadable, and never blocks on 0', () => {
    expect(nextIndex(0, '42')).toEqual({ index: 42, reset: false });
    expect(nextIndex(42, '42')).toEqual({ index: 42, reset: false });
    expect(nextIndex(42, '7')).toEqual({ index: 0, reset: true });
    expect(nextIndex(42, 'x')).toEqual({ index: 0, reset: true });
    expect(nextIndex(0, '0')).toEqual({ index: 1, reset: false });
  });
});

describe('gateway metrics parsing', () => {
  it('reads labelled counter samples of one metric only', () => {
    const text = [
      '# HELP meridian_http_requests_total requests',
      'meridian_http_requests_total{route="r1",upstream="v2",code="503"} 6',
      'meridian_http_requests_total{route="r\\"x",upstream="v1",code="200"} 1e3',
      'meridian_http_requests_total_created{route="r1"} 17',
      'other_metric 5',
    ].join('\n');
    expect(parseSamples(text, 'meridian_http_requests_total')).toEqual([
      { labels: { route: 'r1', upstream: 'v2', code: '503' }, value: 6 },
      { labels: { route: 'r"x', upstream: 'v1', code: '200' }, value: 1000 },
    ]);
  });
});
