import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { breakerRejected } from './shared/metrics.js';
import { FailureStatuses, upstreamKey, upstreamOutcome } from './shared/outcome.js';
import { deny } from './shared/respond.js';

export const AdaptiveThrottleConfig = Strict({
  k: Type.Number({ minimum: 1, default: 2, description: 'accept multiplier K: lower rejects earlier (default 2)' }),
  window_ms: Type.Integer({ minimum: 1_000, default: 60_000, description: 'sliding window of the counts (ms, default 60000)' }),
  buckets: Type.Integer({ minimum: 1, maximum: 600, default: 60, description: 'window resolution (default 60)' }),
  failure_statuses: FailureStatuses,
});
export type AdaptiveThrottleConfig = Static<typeof AdaptiveThrottleConfig>;

/** requests/accepts in a ring of time buckets: the sliding window of Google SRE's client throttling. */
class Window {
  private readonly requests: Float64Array;
  private readonly accepts: Float64Array;
  private readonly stamps: Float64Array;
  constructor(private readonly bucketMs: number, n: number) {
    this.requests = new Float64Array(n);
    this.accepts = new Float64Array(n);
    this.stamps = new Float64Array(n).fill(-1);
  }

  private slot(now: number): number {
    const idx = Math.floor(now / this.bucketMs);
    const i = idx % this.stamps.length;
    if (this.stamps[i] !== idx) {
      this.stamps[i] = idx;
      this.requests[i] = 0;
      this.accepts[i] = 0;
    }
    return i;
  }

  add(now: number, accepted: boolean): void {
    const i = this.slot(now);
    this.requests[i]! += 1;
    if (accepted) this.accepts[i]! += 1;
  }

  totals(now: number): { requests: number; accepts: number } {
    const oldest = Math.floor(now / this.bucketMs) - this.stamps.length + 1;
    let requests = 0;
    let accepts = 0;
    for (let i = 0; i < this.stamps.length; i++) {
      if (this.stamps[i]! >= oldest) {
        requests += this.requests[i]!;
        accepts += this.accepts[i]!;
      }
    }
    return { requests, accepts };
  }
}

const windows = new Map<string, Window>();

function windowOf(key: string, cfg: AdaptiveThrottleConfig): Window {
  let w = windows.get(key);
  if (!w) {
    w = new Window(Math.max(1, Math.floor(cfg.window_ms / cfg.buckets)), cfg.buckets);
    windows.set(key, w);
  }
  return w;
}

/** SRE book, "Handling Overload": reject with probability max(0, (requests - K*accepts) / (requests + 1)). */
export function rejectProbability(requests: number, accepts: number, k: number): number {
  return Math.max(0, (requests - k * accepts) / (requests + 1));
}

const VAR = 'adaptive-throttle';

function beforeProxy(ctx: RequestContext, cfg: AdaptiveThrottleConfig): ShortCircuit | undefined {
  const key = upstreamKey(ctx);
  const w = windowOf(key, cfg);
  const now = Date.now();
  const { requests, accepts } = w.totals(now);
  if (Math.random() < rejectProbability(requests, accepts, cfg.k)) {
    // A locally rejected request still counts as a request: that is what lets the rate recover.
    w.add(now, false);
    ctx.vars.set(VAR, 'rejected');
    breakerRejected.inc({ breaker: 'adaptive', upstream: key });
    return deny('MERIDIAN_ERR_PLUGIN_CIRCUIT_OPEN', { upstream: key, breaker: 'adaptive-throttle' });
  }
  ctx.vars.set(VAR, 'sent');
  return undefined;
}

function log(ctx: RequestContext, cfg: AdaptiveThrottleConfig): void {
  if (ctx.vars.get(VAR) !== 'sent') return;
  const outcome = upstreamOutcome(ctx, cfg.failure_statuses);
  if (outcome === 'unknown') return;
  windowOf(upstreamKey(ctx), cfg).add(Date.now(), outcome === 'success');
}

/** adaptive-throttle: Google SRE client-side adaptive throttling per upstream. */
export const adaptiveThrottle: Plugin<AdaptiveThrottleConfig> = {
  name: 'adaptive-throttle',
  version: '1.0.0',
  priority: 600,
  schema: AdaptiveThrottleConfig,
  phases: { before_proxy: beforeProxy, log },
  close: () => windows.clear(),
};
