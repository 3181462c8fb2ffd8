import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The plugins' metrics, in their own registry so the gateway can serve them next to its own
 * (`/metrics` on the admin listener: `await pluginMetrics.metrics()` appended, or
 * `Registry.merge([gatewayRegistry, pluginMetrics])`). Labels are config ids, never request data.
 */
export const pluginMetrics = new Registry();

export const limitRejected = new Counter({
  name: 'meridian_plugin_limit_rejected_total',
  help: 'requests rejected by a limiting plugin',
  labelNames: ['plugin', 'route'] as const,
  registers: [pluginMetrics],
});

export const limitFallback = new Counter({
  name: 'meridian_plugin_limit_fallback_total',
  help: 'limit-count decisions taken by the local fallback because Redis was unavailable',
  labelNames: ['route'] as const,
  registers: [pluginMetrics],
});

export const redisCalls = new Counter({
  name: 'meridian_plugin_redis_calls_total',
  help: 'Redis round trips made by plugins',
  labelNames: ['plugin', 'result'] as const,
  registers: [pluginMetrics],
});

export const authFailures = new Counter({
  name: 'meridian_plugin_auth_failures_total',
  help: 'requests refused by an auth plugin (401)',
  labelNames: ['plugin', 'route'] as const,
  registers: [pluginMetrics],
});

/** Password hashes computed (scrypt), by their cost: a user's own and the dummy for unknown users alike. */
export const passwordHashes = new Counter({
  name: 'meridian_plugin_password_hashes_total',
  help: 'password hashes computed by an auth plugin (scrypt; a user\'s own hash or the same-cost dummy), by parameters N/r/p',
  labelNames: ['plugin', 'params'] as const,
  registers: [pluginMetrics],
});

export const passwordHashesInFlight = new Gauge({
  name: 'meridian_plugin_password_hashes_in_flight',
  help: 'password hashes being computed now in the worker',
  labelNames: ['plugin'] as const,
  registers: [pluginMetrics],
});

/** Highest in-flight count a worker reached; across workers the highest of them (not the sum). */
export const passwordHashesPeak = new Gauge({
  name: 'meridian_plugin_password_hashes_in_flight_peak',
  help: 'highest number of password hashes computed at once by one worker since it started',
  labelNames: ['plugin'] as const,
  aggregator: 'max',
  registers: [pluginMetrics],
});

export const breakerState = new Gauge({
  name: 'meridian_plugin_breaker_open',
  help: '1 while a consecutive-failure breaker is open or half-open, per upstream',
  labelNames: ['upstream'] as const,
  registers: [pluginMetrics],
});

export const breakerRejected = new Counter({
  name: 'meridian_plugin_breaker_rejected_total',
  help: 'requests rejected by a breaker (503)',
  labelNames: ['breaker', 'upstream'] as const,
  registers: [pluginMetrics],
});

export const cacheResults = new Counter({
  name: 'meridian_plugin_cache_total',
  help: 'proxy-cache lookups',
  labelNames: ['route', 'result'] as const,
  registers: [pluginMetrics],
});

export const mirrorResults = new Counter({
  name: 'meridian_plugin_mirror_total',
  help: 'proxy-mirror copies',
  labelNames: ['route', 'result'] as const,
  registers: [pluginMetrics],
});

export { Counter, Gauge, Histogram };
