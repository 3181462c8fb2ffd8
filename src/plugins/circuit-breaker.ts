import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { breakerRejected, breakerState } from './shared/metrics.js';
import { FailureStatuses, upstreamKey, upstreamOutcome } from './shared/outcome.js';
import { deny } from './shared/respond.js';

export const CircuitBreakerConfig = Strict({
  failures: Type.Integer({ minimum: 1, default: 5, description: 'consecutive failures that open the circuit (default 5)' }),
  open_ms: Type.Integer({ minimum: 1, default: 10_000, description: 'first open period before a probe (ms, default 10000)' }),
  max_open_ms: Type.Integer({ minimum: 1, default: 300_000, description: 'the open period doubles after a failed probe up to this (ms, default 300000)' }),
  half_open_probes: Type.Integer({ minimum: 1, default: 1, description: 'requests let through at once while half-open (default 1)' }),
  successes: Type.Integer({ minimum: 1, default: 1, description: 'successful probes that close the circuit (default 1)' }),
  failure_statuses: FailureStatuses,
});
export type CircuitBreakerConfig = Static<typeof CircuitBreakerConfig>;

interface State {
  state: 'closed' | 'open' | 'half_open';
  consecutive: number;
  openMs: number;
  openUntil: number;
  probes: number;
  lastProbeAt: number;
  probeSuccesses: number;
}

const states = new Map<string, State>();

function stateOf(key: string, cfg: CircuitBreakerConfig): State {
  let s = states.get(key);
  if (!s) {
    s = { state: 'closed', consecutive: 0, openMs: cfg.open_ms, openUntil: 0, probes: 0, lastProbeAt: 0, probeSuccesses: 0 };
    states.set(key, s);
  }
  return s;
}

function open(s: State, key: string, ms: number): void {
  s.state = 'open';
  s.openMs = ms;
  s.openUntil = Date.now() + ms;
  s.probes = 0;
  s.probeSuccesses = 0;
  breakerState.set({ upstream: key }, 1);
}

const VAR = 'circuit-breaker';

function beforeProxy(ctx: RequestContext, cfg: CircuitBreakerConfig): ShortCircuit | undefined {
  const key = upstreamKey(ctx);
  const s = stateOf(key, cfg);
  if (s.state === 'closed') {
    ctx.vars.set(VAR, 'sent');
    return undefined;
  }
  const now = Date.now();
  if (s.state === 'open' && now >= s.openUntil) {
    s.state = 'half_open';
    s.probes = 0;
  }
  // A probe whose outcome never came back (client gone) frees its slot after one open period.
  if (s.state === 'half_open' && (s.probes < cfg.half_open_probes || now - s.lastProbeAt > s.openMs)) {
    if (s.probes >= cfg.half_open_probes) s.probes = 0;
    s.probes++;
    s.lastProbeAt = now;
    ctx.vars.set(VAR, 'probe');
    return undefined;
  }
  breakerRejected.inc({ breaker: 'circuit', upstream: key });
  const retry = Math.max(1, Math.ceil((s.openUntil - now) / 1000));
  return deny('MERIDIAN_ERR_PLUGIN_CIRCUIT_OPEN', { upstream: key, breaker: 'circuit-breaker' }, { 'Retry-After': String(retry) });
}

function log(ctx: RequestContext, cfg: CircuitBreakerConfig): void {
  const role = ctx.vars.get(VAR);
  if (role !== 'sent' && role !== 'probe') return;
  const key = upstreamKey(ctx);
  const s = stateOf(key, cfg);
  if (role === 'probe' && s.probes > 0) s.probes--;
  const outcome = upstreamOutcome(ctx, cfg.failure_statuses);
  if (outcome === 'unknown') return;
  if (outcome === 'success') {
    s.consecutive = 0;
    if (s.state === 'half_open' && role === 'probe' && ++s.probeSuccesses >= cfg.successes) {
      s.state = 'closed';
      s.openMs = cfg.open_ms;
      breakerState.set({ upstream: key }, 0);
    }
    return;
  }
  if (s.state === 'half_open' && role === 'probe') {
    open(s, key, Math.min(s.openMs * 2, cfg.max_open_ms));
    return;
  }
  if (s.state === 'closed' && ++s.consecutive >= cfg.failures) open(s, key, cfg.open_ms);
}

/** circuit-breaker: consecutive failures open the circuit; half-open probes close it. */
export const circuitBreaker: Plugin<CircuitBreakerConfig> = {
  name: 'circuit-breaker',
  version: '1.0.0',
  priority: 610,
  schema: CircuitBreakerConfig,
  check: (cfg) => (cfg.max_open_ms < cfg.open_ms ? { field: 'max_open_ms', reason: `must be >= open_ms (${cfg.open_ms})` } : undefined),
  phases: { before_proxy: beforeProxy, log },
  close: () => states.clear(),
};
