import { REGIONAL_KINDS as KINDS, type RegionalKind as Kind } from '../core/keys.js';
import type { GatewayConfig } from '../core/model/index.js';

/**
 * Config hand-over from the primary to its workers as a patch: with route churn (one route
 * of 10,000 changing ten times a second) sending the whole config would make every worker
 * deserialize and compare all of it per change, on the thread that serves requests.
 */

type Item = GatewayConfig[Kind][number];

/** Changed resources by position; everything else of the config is carried whole (it is small). */
export interface ConfigPatch {
  top: Omit<GatewayConfig, Kind>;
  items: Array<{ kind: Kind; index: number; value: Item }>;
}

function identity(kind: Kind, item: Item): string {
  return kind === 'consumers' ? (item as GatewayConfig['consumers'][number]).username : (item as { id: string }).id;
}

function topOf(config: GatewayConfig): Omit<GatewayConfig, Kind> {
  const top: Record<string, unknown> = { ...config };
  for (const k of KINDS) delete top[k];
  return top as Omit<GatewayConfig, Kind>;
}

/**
 * The patch turning `prev` into `next`, or undefined when their shape differs (a resource
 * added, removed or moved): the whole config is sent then. Unchanged resources are the same
 * objects in both (the primary's schema check reuses them), so a comparison is one `===`.
 */
export function diffConfig(prev: GatewayConfig, next: GatewayConfig): ConfigPatch | undefined {
  const items: ConfigPatch['items'] = [];
  for (const kind of KINDS) {
    const a = prev[kind] as readonly Item[];
    const b = next[kind] as readonly Item[];
    if (a.length !== b.length) return undefined;
    for (let i = 0; i < b.length; i++) {
      const x = a[i] as Item;
      const y = b[i] as Item;
      if (x === y) continue;
      if (identity(kind, x) !== identity(kind, y)) return undefined;
      items.push({ kind, index: i, value: y });
    }
  }
  return { top: topOf(next), items };
}

/** True when the patch changes nothing (same resources, same top-level settings). */
export function isEmptyPatch(prev: GatewayConfig, patch: ConfigPatch): boolean {
  return patch.items.length === 0 && JSON.stringify(topOf(prev)) === JSON.stringify(patch.top);
}

/** `base` with the patch applied; arrays without changes (and every unchanged resource) are shared. */
export function applyConfigPatch(base: GatewayConfig, patch: ConfigPatch): GatewayConfig {
  const out = { ...base, ...patch.top } as GatewayConfig;
  const copied = new Set<Kind>();
  for (const { kind, index, value } of patch.items) {
    if (!copied.has(kind)) {
      (out as Record<Kind, Item[]>)[kind] = [...(base[kind] as readonly Item[])];
      copied.add(kind);
    }
    const list = out[kind] as Item[];
    if (index >= list.length) throw new Error(`config patch: ${kind}[${index}] is outside the base config`);
    list[index] = value;
  }
  return out;
}

/**
 * The routes a patch changes, by id, when it changes nothing else but the revision (the
 * worker then patches its router at those routes); undefined for any other change.
 */
export function routeChanges(base: GatewayConfig, patch: ConfigPatch): Map<string, GatewayConfig['routes'][number]> | undefined {
  const { revision: _a, ...before } = topOf(base);
  const { revision: _b, ...after } = patch.top;
  if (JSON.stringify(before) !== JSON.stringify(after)) return undefined;
  const out = new Map<string, GatewayConfig['routes'][number]>();
  for (const item of patch.items) {
    if (item.kind !== 'routes') return undefined;
    const route = item.value as GatewayConfig['routes'][number];
    out.set(route.id, route);
  }
  return out;
}
