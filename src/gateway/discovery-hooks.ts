import type { Registry } from 'prom-client';
import type { Logger } from '../core/logger.js';
import { DiscoveryManager } from '../discovery/index.js';
import type { GatewayProgramConfig } from './config.js';
import type { DiscoveryHooks } from './worker.js';

/**
 * Consul discovery (src/discovery) for one worker: one DiscoveryManager on the worker's
 * registry; upstreams with `discovery` take their NodeSource from it, and the admin purge
 * (fanned out over IPC) lands in its purge(). Queries start only when an upstream uses it.
 */
export function discoveryHooks(config: GatewayProgramConfig): (registry: Registry, log: Logger) => DiscoveryHooks {
  return (registry, log) => {
    const manager = new DiscoveryManager({ config: config.discovery ?? {}, registry, logger: log });
    return {
      sourceFor: (d) => manager.sourceFor(d),
      purge: (filter) => manager.purge(filter),
      stop: () => manager.stop(),
    };
  };
}
