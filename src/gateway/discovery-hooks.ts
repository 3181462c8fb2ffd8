import type { GatewayProgramConfig } from './config.js';
import type { DiscoveryHooks } from './worker.js';

/**
 * The discovery module (src/discovery, its own issue) plugs in here: a DiscoveryManager with
 * sourceFor(discovery) -> NodeSource and purge(filter). Until it exists, upstreams with
 * `discovery` have their static `nodes` (if any) and purge is acknowledged with nothing to do.
 */
export async function loadDiscoveryHooks(_config: GatewayProgramConfig): Promise<DiscoveryHooks | undefined> {
  return undefined;
}
