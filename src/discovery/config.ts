import { Type, type Static } from '@sinclair/typebox';
import { Millis, Port, Strict } from '../core/model/common.js';
import { MeridianError } from '../core/errors/index.js';
import { check } from '../core/validate.js';

/** One Consul agent's DNS interface. */
export const ConsulDnsServer = Strict({
  host: Type.String({ minLength: 1, description: 'IP address of the Consul agent DNS interface (loopback in the local topology)' }),
  port: Port,
});

/**
 * The `discovery` section of a gateway's config: how Consul DNS is asked and how answers are
 * cached. Every default is stated next to its field; `parseDiscoveryConfig({})` gives them all.
 */
export const DiscoveryConfig = Strict({
  servers: Type.Array(ConsulDnsServer, {
    minItems: 1,
    default: [{ host: '127.0.0.1', port: 8600 }],
    description: 'regional Consul DNS servers, tried in order on failure (default [127.0.0.1:8600])',
  }),
  datacenter: Type.Optional(Type.String({ minLength: 1, description: 'name of the local datacenter; lets purge({datacenter}) match local entries exactly (default: unset, a datacenter purge then also matches local entries)' })),
  domain: Type.String({ minLength: 1, default: 'consul', description: 'Consul DNS domain (default "consul")' }),
  query_timeout_ms: Millis(1_000, 'time one DNS query may take before the next server is tried'),
  udp_answer_limit: Type.Integer({ minimum: 1, default: 3, description: "Consul's dns_config.udp_answer_limit: a UDP answer with this many SRV records may have been cut, so it is asked again over TCP (default 3)" }),
  ttl_floor_ms: Millis(1_000, 'shortest time an answer is fresh (Consul serves TTL 0 by default)'),
  ttl_ceiling_ms: Millis(30_000, 'longest time an answer is fresh, whatever TTL Consul sends'),
  refresh_ahead: Type.Number({ minimum: 0.1, maximum: 1, default: 0.75, description: 'share of the TTL after which a background refresh starts, so entries never expire while in use (default 0.75)' }),
  max_stale_ms: Millis(300_000, 'how long past its TTL an answer is still served while Consul DNS does not answer; after that the upstream has no nodes'),
  negative_ttl_ms: Millis(1_000, 'how long "no such service / no passing instance" is cached; also how often a failed-over source re-checks its local datacenter'),
  retry_ms: Millis(500, 'pause between refresh attempts while Consul DNS does not answer'),
});

export type DiscoveryConfig = Static<typeof DiscoveryConfig>;
/** What a caller may pass: any subset, defaults fill the rest. */
export type DiscoveryConfigInput = Partial<DiscoveryConfig>;

/** Defaults, then a strict check (unknown keys rejected); throws MERIDIAN_ERR_CONFIG_INVALID. */
export function parseDiscoveryConfig(input: unknown = {}): DiscoveryConfig {
  const result = check(DiscoveryConfig, input ?? {}, 'discovery');
  if (!result.ok) {
    // Named from the config file's root, where this section lives under `discovery`.
    const field = result.field.startsWith('discovery') ? result.field : `discovery.${result.field}`;
    throw new MeridianError('MERIDIAN_ERR_CONFIG_INVALID', { field, reason: result.reason });
  }
  const config = result.value;
  if (config.ttl_ceiling_ms < config.ttl_floor_ms) {
    // Caught here rather than silently swapped: an operator who wrote them reversed meant something.
    throw new MeridianError('MERIDIAN_ERR_CONFIG_INVALID', { field: 'discovery.ttl_ceiling_ms', reason: `must be >= ttl_floor_ms (${config.ttl_floor_ms})` });
  }
  return config;
}
