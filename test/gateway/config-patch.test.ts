import { describe, expect, it } from 'vitest';
import { applyConfigPatch, diffConfig, isEmptyPatch, routeChanges } from '../../src/gateway/config-patch.js';
import type { GatewayConfig } from '../../src/core/model/index.js';

const route = (id: string, path: string): GatewayConfig['routes'][number] => ({ id, paths: [path], upstream_id: 'up' }) as GatewayConfig['routes'][number];

const upstream = { id: 'up', nodes: [{ host: '127.0.0.1', port: 1 }] };

function config(routes: GatewayConfig['routes'], revision = 1): GatewayConfig {
  return { revision, routes, upstreams: [upstream], consumers: [], ssl: [], global_rules: [] } as unknown as GatewayConfig;
}

describe('config patches (primary -> workers)', () => {
  const a = route('a', '/a');
  const b = route('b', '/b');
  const c = route('c', '/c');

  it('carries only the changed resources, by position, and applying it gives the new config', () => {
    const prev = config([a, b, c], 1);
    const b2 = route('b', '/b2');
    const next = { ...prev, revision: 2, routes: [a, b2, c] };
    const patch = diffConfig(prev, next);
    expect(patch?.items).toEqual([{ kind: 'routes', index: 1, value: b2 }]);
    const applied = applyConfigPatch(prev, patch as NonNullable<typeof patch>);
    expect(applied).toEqual(next);
    // Unchanged resources and untouched kinds stay the same objects (the builder compares by identity).
    expect(applied.routes[0]).toBe(a);
    expect(applied.upstreams).toBe(prev.upstreams);
    // The base is not modified.
    expect(prev.routes[1]).toBe(b);
  });

  it('a resource added, removed or reordered is not a patch: the whole config is sent', () => {
    const prev = config([a, b]);
    expect(diffConfig(prev, config([a, b, c]))).toBeUndefined();
    expect(diffConfig(prev, config([a]))).toBeUndefined();
    expect(diffConfig(prev, config([b, a]))).toBeUndefined();
    expect(diffConfig(prev, config([a, c]))).toBeUndefined();
  });

  it('a new revision alone is a change; the same config again is not', () => {
    const prev = config([a, b], 1);
    const same = diffConfig(prev, config([a, b], 1));
    expect(same && isEmptyPatch(prev, same)).toBe(true);
    const bumped = diffConfig(prev, config([a, b], 2));
    expect(bumped && isEmptyPatch(prev, bumped)).toBe(false);
    expect(applyConfigPatch(prev, bumped as NonNullable<typeof bumped>).revision).toBe(2);
  });

  it('a patch that does not fit the base is refused, not applied half', () => {
    const prev = config([a, b, c]);
    const patch = diffConfig(prev, config([a, b, route('c', '/c2')]));
    expect(() => applyConfigPatch(config([a]), patch as NonNullable<typeof patch>)).toThrow(/outside the base config/);
  });

  it('names the changed routes of a route-only patch, and nothing for any other change', () => {
    const prev = config([a, b, c], 1);
    const b2 = route('b', '/b2');
    const routesOnly = diffConfig(prev, { ...prev, revision: 2, routes: [a, b2, c] });
    expect(routesOnly && routeChanges(prev, routesOnly)).toEqual(new Map([['b', b2]]));
    const upstreamToo = diffConfig(prev, { ...prev, revision: 2, routes: [a, b2, c], upstreams: [{ ...upstream, nodes: [] }] } as unknown as GatewayConfig);
    expect(upstreamToo && routeChanges(prev, upstreamToo)).toBeUndefined();
  });
});
