import type { Consumer } from '../../core/model/index.js';
import type { PluginServices } from '../contract.js';

/**
 * The services of the worker, kept once for every plugin module: plugins are singletons per
 * worker (one module each), so their per-worker state lives at module level, set by init().
 */
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
let services: PluginServices = { redisUrl: undefined, log: silent };

export function setServices(s: PluginServices): void {
  services = s;
}

export function getServices(): PluginServices {
  return services;
}

const NO_CONSUMERS: readonly Consumer[] = [];
export function currentConsumers(): readonly Consumer[] {
  return services.consumers?.() ?? NO_CONSUMERS;
}

/**
 * A lookup built from the consumers once per config snapshot: rebuilt only when the gateway
 * hands a different consumers array (its identity is the snapshot's), never per request.
 */
export function perSnapshot<T>(build: (consumers: readonly Consumer[]) => T): () => T {
  let seen: readonly Consumer[] | undefined;
  let value: T | undefined;
  return () => {
    const list = currentConsumers();
    if (list !== seen || value === undefined) {
      value = build(list);
      seen = list;
    }
    return value;
  };
}
