import type { Consumer, GlobalRule, ResourceKind, Route, Upstream } from '../../src/core/model/index.js';
import { isMeridianError } from '../../src/core/errors/index.js';
import { builtinRegistry } from '../../src/plugins/index.js';
import { invalid } from './invalid.js';

/**
 * The gateways run each plugin's schema and config check when they build a region's config,
 * and refuse the whole config over one bad plugin entry. The controller runs the same checks
 * (the gateway's own plugin registry, as semantics.ts runs the gateway router's pattern check)
 * on every write, so such an entry is a 400 naming its field rather than a region that stops
 * taking new config. Cross-plugin rules (checkChain) depend on the levels a route inherits and
 * stay with the gateway.
 */
const registry = builtinRegistry();

type PluginMap = Readonly<Record<string, unknown>> | undefined;

/** Throws MERIDIAN_ERR_CONTROLLER_INVALID naming `plugins.<name>.<field>` for the first entry a gateway would refuse. */
export function checkPluginConfigs(kind: ResourceKind, value: unknown): void {
  if (kind === 'routes') {
    const r = value as Route;
    checkMap('route', 'plugins', r.plugins);
    checkMap('route', 'upstream.plugins', r.upstream?.plugins);
  } else if (kind === 'upstreams') checkMap('upstream', 'plugins', (value as Upstream).plugins);
  else if (kind === 'global_rules') checkMap('global_rule', 'plugins', (value as GlobalRule).plugins);
  // A consumer's entry for an auth plugin is its credential (checked, then hashed, by secrets.ts).
  else if (kind === 'consumers') checkMap('consumer', 'plugins', (value as Consumer).plugins, (name) => registry.get(name)?.credentialSchema === undefined);
}

function checkMap(kind: string, path: string, map: PluginMap, isConfig: (name: string) => boolean = () => true): void {
  for (const [name, config] of Object.entries(map ?? {})) {
    if (registry.get(name) === undefined) {
      throw invalid(kind, `${path}.${name}`, `unknown plugin (known: ${registry.names().join(', ')})`);
    }
    if (!isConfig(name)) continue;
    try {
      registry.validateConfig(name, config, kind);
    } catch (err) {
      if (!isMeridianError(err) || err.code !== 'MERIDIAN_ERR_PLUGIN_CONFIG') throw err;
      const { field, reason } = err.params as { field?: string; reason?: string };
      // A field equal to the plugin's name is the config as a whole (validate.ts names the root so).
      const at = field && field !== name ? `${path}.${name}.${field}` : `${path}.${name}`;
      throw invalid(kind, at, reason ?? err.message);
    }
  }
}
