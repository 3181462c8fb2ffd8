import type { Sample } from './client.js';

/** What a scenario must show; each bound is checked and reported. */
export interface Criteria {
  /** Share of client requests that failed even after the retry (0.001 = 0.1%). */
  maxFailedShare: number;
  /** From the fault until success is back to >= 99.9% per second, for good. */
  maxRecoverMs?: number;
  /** From the fault until no request goes first to the faulty nodes any more. */
  maxDetectMs?: number;
}

export interface Bucket {
  second: number;
  total: number;
  ok: number;
  p99Ms: number;
}

/** One judged figure of a scenario. */
export interface Check {
  what: string;
  value: string;
  bound: string;
  pass: boolean;
}

export interface Analysis {
  total: number;
  failed: number;
  retried: number;
  failedShare: number;
  /** ms after the fault; 0 when no second fell below 99.9%. */
  recoverMs: number;
  /** ms after the fault of the last request sent first to a faulty node; null when not applicable. */
  detectMs: number | null;
  buckets: Bucket[];
  checks: Check[];
  pass: boolean;
}

function p99(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
}

/** Per-second success and p99 latency. */
export function bucketize(samples: readonly Sample[]): Bucket[] {
  const by = new Map<number, Sample[]>();
  for (const s of samples) {
    const sec = Math.floor(s.at / 1000);
    let list = by.get(sec);
    if (!list) by.set(sec, (list = []));
    list.push(s);
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([second, list]) => ({
    second,
    total: list.length,
    ok: list.filter((s) => s.ok).length,
    p99Ms: p99(list.map((s) => s.latencyMs)),
  }));
}

/**
 * Judges a run: `faultAt` and `restoreAt` are ms since load start; `faultyNodes` are the
 * gateway addresses the fault took out (for the time-to-detect figure).
 */
export function analyse(samples: readonly Sample[], faultAt: number, criteria: Criteria, faultyNodes: readonly string[] = [], restoreAt = Number.POSITIVE_INFINITY): Analysis {
  const failed = samples.filter((s) => !s.ok).length;
  const retried = samples.filter((s) => s.retried).length;
  const buckets = bucketize(samples);
  const faultSecond = Math.floor(faultAt / 1000);
  const bad = buckets.filter((b) => b.second >= faultSecond && b.total > 0 && b.ok / b.total < 0.999);
  const lastBad = bad[bad.length - 1];
  const recoverMs = lastBad ? Math.max(0, (lastBad.second + 1) * 1000 - faultAt) : 0;
  let detectMs: number | null = null;
  if (faultyNodes.length > 0) {
    // While the fault lasts: the first attempt of a sample is its node unless it was retried
    // (then the first attempt failed and the retry went elsewhere).
    const onFaulty = samples.filter((s) => s.at >= faultAt && s.at < restoreAt && (s.retried || faultyNodes.includes(s.node)));
    const last = onFaulty[onFaulty.length - 1];
    detectMs = last ? last.at - faultAt : 0;
  }
  const failedShare = samples.length === 0 ? 1 : failed / samples.length;
  const checks: Analysis['checks'] = [
    { what: 'failed requests (after retry)', value: `${(failedShare * 100).toFixed(3)}% (${failed}/${samples.length})`, bound: `<= ${(criteria.maxFailedShare * 100).toFixed(3)}%`, pass: samples.length > 0 && failedShare <= criteria.maxFailedShare },
  ];
  if (criteria.maxRecoverMs !== undefined) {
    checks.push({ what: 'time to recover (>= 99.9%/s)', value: `${(recoverMs / 1000).toFixed(1)} s`, bound: `<= ${(criteria.maxRecoverMs / 1000).toFixed(1)} s`, pass: recoverMs <= criteria.maxRecoverMs });
  }
  if (criteria.maxDetectMs !== undefined && detectMs !== null) {
    checks.push({ what: 'time to detect (traffic off the fault)', value: `${(detectMs / 1000).toFixed(1)} s`, bound: `<= ${(criteria.maxDetectMs / 1000).toFixed(1)} s`, pass: detectMs <= criteria.maxDetectMs });
  }
  return { total: samples.length, failed, retried, failedShare, recoverMs, detectMs, buckets, checks, pass: checks.every((c) => c.pass) };
}
