import { describe, expect, it } from 'vitest';
import { RuntimeBuilder } from '../../src/gateway/build.js';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import { builtinRegistry } from '../../src/plugins/index.js';
import { PoolManager } from '../../src/upstream/pools.js';
import type { CompiledRoute } from '../../src/proxy/types.js';
import type { Runtime } from '../../src/gateway/build.js';

const registry = builtinRegistry();
const upstreams = [{ id: 'up', nodes: [{ host: '127.0.0.1', port: 9 }] }];
const config = (routes: Array<Record<string, unknown>>, revision = 1) => ({ revision, upstreams, routes: routes.map((r) => ({ upstream_id: 'up', ...r })) });
const reason = (raw: unknown): string => {
  try {
    RuntimeBuilder.dryRun(raw, registry, undefined);
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
};

describe('gateway config checks: path patterns', () => {
  it('names the resource of a schema error, not only the field inside it', () => {
    expect(reason(config([{ id: 'a', paths: ['/a'] }, { id: 'b', paths: ['/b'], vars: [{ name: 'x' }] }]))).toBe('config rejected: routes[1].vars[0].source: is required');
  });

  it('refuses a pattern the router would refuse, naming the route and path, before any request finds it', () => {
    expect(reason(config([{ id: 'a', paths: ['/ok'] }, { id: 'b', paths: ['/x', '/a*b'] }]))).toBe(
      'config rejected: routes[1].paths[1]: /a*b: Wildcard must be the last character in the route',
    );
    expect(reason(config([{ id: 'a', paths: ['/c/:id((a+)+)'] }]))).toMatch(/routes\[0\]\.paths\[0\]: .*The regex '\(\(a\+\)\+\)' is not safe!/);
    expect(reason(config([{ id: 'a', paths: ['/v/:id(\\d+'] }]))).toMatch(/routes\[0\]\.paths\[0\]: .*Invalid regexp expression/);
  });

  it('refuses two routes whose patterns differ only in parameter names, in one host and method', () => {
    expect(reason(config([{ id: 'a', paths: ['/users/:id'] }, { id: 'b', paths: ['/users/:name'] }]))).toBe(
      "config rejected: route b: path /users/:name is route a's /users/:id with other parameter names (give both the same names)",
    );
    // The same pattern on two routes (a canary by vars), or in different hosts or methods: fine.
    expect(reason(config([{ id: 'a', paths: ['/users/:id'] }, { id: 'b', paths: ['/users/:id'], vars: [{ source: 'header', name: 'x-canary', value: '1' }] }]))).toBe('accepted');
    expect(reason(config([{ id: 'a', paths: ['/users/:id'], hosts: ['a.example'] }, { id: 'b', paths: ['/users/:name'], hosts: ['b.example'] }]))).toBe('accepted');
    expect(reason(config([{ id: 'a', paths: ['/users/:id'], methods: ['GET'] }, { id: 'b', paths: ['/users/:name'], methods: ['POST'] }]))).toBe('accepted');
  });
});

describe('gateway build: a changed route among many', () => {
  const find = (rt: Runtime, path: string): string | undefined => rt.router.find('GET', 'h', path, { headers: {} }, '')?.value.id;

  it('patches the router at the changed route and serves the change; unchanged routes keep their compiled form', () => {
    const builder = new RuntimeBuilder({ registry, pools: new PoolManager(), metrics: new GatewayMetrics(), region: undefined });
    const routes = Array.from({ length: 1000 }, (_, i) => ({ id: `r${i}`, paths: [`/svc${i}/*`] }));
    const first = builder.build(RuntimeBuilder.dryRun(config(routes), registry, undefined), undefined);
    const changed = routes.map((r, i) => (i === 5 ? { ...r, paths: ['/moved/*'] } : r));
    const second = builder.build(RuntimeBuilder.dryRun(config(changed, 2), registry, undefined), first);
    expect(second.router.stats).toMatchObject({ shardsBuilt: 1, shardsReused: 999 });
    expect(find(second, '/moved/x')).toBe('r5');
    expect(find(second, '/svc5/x')).toBeUndefined();
    expect(find(first, '/svc5/x')).toBe('r5');
    const compiled = (rt: Runtime, path: string): CompiledRoute | undefined => rt.router.find('GET', 'h', path, { headers: {} }, '')?.value;
    expect(compiled(second, '/svc6/x')).toBe(compiled(first, '/svc6/x'));
    // A route added changes the order: a full build, still right.
    const third = builder.build(RuntimeBuilder.dryRun(config([...changed, { id: 'extra', paths: ['/extra'] }], 3), registry, undefined), second);
    expect(third.router.stats.shardsBuilt).toBe(1);
    expect(find(third, '/extra')).toBe('extra');
    expect(find(third, '/moved/x')).toBe('r5');
  });

  it('patches a route-only change in the cost of that route, and declines what it cannot patch', () => {
    const builder = new RuntimeBuilder({ registry, pools: new PoolManager(), metrics: new GatewayMetrics(), region: undefined });
    const routes = Array.from({ length: 100 }, (_, i) => ({ id: `r${i}`, paths: [`/svc${i}/*`] }));
    const first = builder.build(RuntimeBuilder.dryRun(config(routes), registry, undefined), undefined);
    const checked = (rs: Array<Record<string, unknown>>) => RuntimeBuilder.dryRun(config(rs, 2), registry, undefined).config;
    const moved = checked(routes.map((r, i) => (i === 3 ? { ...r, paths: ['/moved3/*'] } : r)));
    const r3 = moved.routes[3] as (typeof moved.routes)[number];
    const second = builder.patchRoutes(2, first, new Map([['r3', r3]]));
    expect(second?.revision).toBe(2);
    expect(second?.router.stats).toMatchObject({ shardsBuilt: 1 });
    expect(find(second as Runtime, '/moved3/x')).toBe('r3');
    expect(find(second as Runtime, '/svc3/x')).toBeUndefined();
    expect(second?.upstreams).toBe(first.upstreams);
    // A route moving to an upstream the generation does not have, or leaving the node: a full build is needed.
    const elsewhere = { ...r3, upstream_id: 'other' };
    expect(builder.patchRoutes(3, second as Runtime, new Map([['r3', elsewhere]]))).toBeUndefined();
    expect(builder.patchRoutes(3, second as Runtime, new Map([['r3', { ...r3, enabled: false }]]))).toBeUndefined();
    // Only the last generation built can be patched.
    expect(builder.patchRoutes(3, first, new Map([['r3', r3]]))).toBeUndefined();
  });
});
