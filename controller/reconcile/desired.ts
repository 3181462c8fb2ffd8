import { REGIONAL_KINDS, regionalKeys, type RegionalKind } from '../../src/core/keys.js';
import type { Route } from '../../src/core/model/index.js';
import type { CentralMirror } from '../central/mirror.js';

/** A route runs where it says, or everywhere when it names no region. */
export function routeRunsIn(route: Route, region: string): boolean {
  return !route.regions || route.regions.length === 0 || route.regions.includes(region);
}

/** The regional keys (config/<kind>/<id>) and values a region must hold. */
export function desiredFor(mirror: CentralMirror, region: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const kind of REGIONAL_KINDS as readonly RegionalKind[]) {
    for (const item of mirror.list(kind)) {
      if (kind === 'routes' && !routeRunsIn(item.value as Route, region)) continue;
      out.set(regionalKeys.resource(kind, item.id), item.value);
    }
  }
  return out;
}
