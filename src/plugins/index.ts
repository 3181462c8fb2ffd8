import type { Plugin } from './contract.js';
import { PluginRegistry } from './chain.js';

export type { Plugin, PluginServices, RequestContext, ShortCircuit, Phase } from './contract.js';
export { PHASES, REQUEST_PHASES, RESPONSE_PHASES } from './contract.js';
export { PluginRegistry, CompiledChain, type PluginLayers } from './chain.js';

/** Every built-in plugin. Add a plugin: one module in this folder, one line here. */
export const BUILTIN_PLUGINS: readonly Plugin[] = [];

export function builtinRegistry(): PluginRegistry {
  return new PluginRegistry(BUILTIN_PLUGINS as Plugin[]);
}
