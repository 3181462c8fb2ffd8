import { MeridianError } from '../core/errors/index.js';

/** What a config means for the guard: its revision, the routes this node would serve, its explicit mark. */
export interface GuardView {
  revision: number;
  routes: number;
  allowEmpty?: boolean;
}

/**
 * The config a source hands over replaces the served one only if it cannot be a truncated
 * file or a wiped etcd prefix: an empty source is refused, and so are a revision lower than
 * the served one and a config without routes while routes are served, unless it says so
 * with `allow_empty: true` and a higher revision. Throws MERIDIAN_ERR_GATEWAY_CONFIG_UNSAFE.
 * `served` is what the node serves, or its snapshot while it boots; undefined when neither.
 */
export function guardReplacement(served: GuardView | undefined, next: GuardView | undefined, what: string): void {
  if (next === undefined) throw unsafe(`${what} is empty; the last good config keeps serving`);
  if (served === undefined) return;
  if (next.revision < served.revision) {
    throw unsafe(`revision ${next.revision} is lower than the served revision ${served.revision}; write a revision of at least ${served.revision}`);
  }
  if (next.routes === 0 && served.routes > 0 && !(next.allowEmpty === true && next.revision > served.revision)) {
    throw unsafe(`no routes while ${served.routes} are served; to remove every route set allow_empty: true and a revision higher than ${served.revision}`);
  }
}

function unsafe(reason: string): MeridianError {
  return new MeridianError('MERIDIAN_ERR_GATEWAY_CONFIG_UNSAFE', { reason });
}
