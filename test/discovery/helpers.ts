import { Registry } from 'prom-client';
import { createLogger } from '../../src/core/logger.js';
import type { ConsulDiscovery } from '../../src/core/model/index.js';
import { DiscoveryManager, nodeKey, type DiscoveryConfigInput } from '../../src/discovery/index.js';
import type { NodeSource } from '../../src/upstream/node-source.js';

export const quiet = createLogger('discovery-test', { level: process.env.MERIDIAN_LOG_LEVEL ?? 'silent' });

/** Fast timings so a test sees Consul's changes within a second. */
export const FAST: DiscoveryConfigInput = {
  ttl_floor_ms: 200, ttl_ceiling_ms: 1_000, negative_ttl_ms: 200, retry_ms: 100, query_timeout_ms: 500, max_stale_ms: 60_000,
};

export function manager(config: DiscoveryConfigInput): { m: DiscoveryManager; registry: Registry } {
  const registry = new Registry();
  return { m: new DiscoveryManager({ config, registry, logger: quiet }), registry };
}

export function keys(source: NodeSource): string[] {
  return source.current().map(nodeKey);
}

export function consul(service: string, extra: Partial<ConsulDiscovery> = {}): ConsulDiscovery {
  return { type: 'consul', service, ...extra };
}

/** Value of one counter series, after its collect() ran. */
export async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const data = await metric.get();
  const hit = data.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return hit?.value ?? 0;
}
