import { describe, expect, it } from 'vitest';
import { ConfigChecker, dryRun } from '../../src/gateway/config-check.js';
import { builtinRegistry } from '../../src/plugins/index.js';
import { prng } from '../harness/prng.js';

// The primary checks a config by its changed routes (ConfigChecker); the result must be the
// whole check's (dryRun) for every config: accepted with the same routes served, or rejected.

const registry = builtinRegistry();
const REGION = 'east';

type Raw = Record<string, unknown> & { routes: Array<Record<string, unknown>> };

function base(n: number): Raw {
  return {
    revision: 1,
    upstreams: [{ id: 'up', nodes: [{ host: '127.0.0.1', port: 1 }] }, { id: 'up2', nodes: [{ host: '127.0.0.1', port: 2 }] }],
    routes: Array.from({ length: n }, (_, i) => ({ id: `r${i}`, paths: [i % 3 === 0 ? `/s${i}/:id` : `/s${i}/*`], upstream_id: 'up' })),
  };
}

/** A new version of route i: valid or not in one of the ways the checks know. */
function variant(i: number, pick: number, n: number): Record<string, unknown> {
  const id = `r${i}`;
  const other = (i + 1) % n;
  switch (pick) {
    case 0: return { id, paths: [`/s${i}/:name`], upstream_id: 'up2' };
    case 1: return { id, paths: [`/s${i}/*`], upstream_id: 'up', enabled: false };
    case 2: return { id, paths: [`/s${i}/*`], upstream_id: 'up', regions: ['west'] };
    case 3: return { id, paths: [`/s${i}/*`], upstream_id: 'nope' }; // unknown upstream
    case 4: return { id, paths: [`/s${other}/:x`], upstream_id: 'up' }; // conflicts with route `other` if it is `/s<other>/:id` and served
    case 5: return { id, paths: [`/s${other}/:id`], upstream_id: 'up' }; // the same pattern: allowed
    case 6: return { id, paths: ['no-slash'], upstream_id: 'up' }; // schema
    case 7: return { id, paths: [`/s${i}/*`], upstream_id: 'up', plugins: { 'limit-count': { count: -1 } } }; // plugin config
    case 8: return { id, paths: [`/s${i}/*`], upstream_id: 'up', plugins: { cors: {} } };
    case 9: return { id, paths: [`/s${i}/*`], upstream_id: 'up', split: { upstream_id: 'up2', weight: 10 } };
    case 10: return { id: `${id}x`, paths: [`/s${i}/*`], upstream_id: 'up' }; // another id at the position
    default: return { id, paths: [`/s${i}/*`], upstream: { nodes: [{ host: '127.0.0.1', port: 3 }] } };
  }
}

type Outcome = { ok: true; served: string; config: string } | { ok: false };

function outcome(fn: () => ReturnType<typeof dryRun>): Outcome {
  try {
    const c = fn();
    return { ok: true, served: JSON.stringify(c.routes), config: JSON.stringify(c.config) };
  } catch (err) {
    expect((err as { code?: string }).code).toBe('MERIDIAN_ERR_GATEWAY_CONFIG_REJECTED');
    return { ok: false };
  }
}

describe('ConfigChecker (the primary checks a config by its changes)', () => {
  it('gives the whole check\'s result over seeded random route changes', () => {
    const seed = Number(process.env.CHECKER_SEED ?? Date.now() % 1_000_000);
    console.log(`config-check differential seed ${seed} (CHECKER_SEED=${seed} replays it)`);
    const rand = prng(seed);
    const n = 40;
    const checker = new ConfigChecker(registry, REGION);
    let raw = base(n);
    expect(outcome(() => checker.check(raw))).toEqual(outcome(() => dryRun(raw, registry, REGION)));
    let accepted = raw;
    let rejected = 0;
    for (let step = 0; step < 300; step++) {
      // As the etcd source hands them over: the last config with some values replaced.
      const routes = accepted.routes.slice();
      const changes = 1 + Math.floor(rand() * 3);
      for (let k = 0; k < changes; k++) {
        const i = Math.floor(rand() * n);
        routes[i] = variant(i, Math.floor(rand() * 12), n);
      }
      raw = { ...accepted, revision: step + 2, routes };
      const byChange = outcome(() => checker.check(raw));
      expect(byChange, `step ${step}`).toEqual(outcome(() => dryRun(raw, registry, REGION)));
      if (byChange.ok) accepted = raw;
      else rejected++;
    }
    // Both kinds of outcome were exercised.
    expect(rejected).toBeGreaterThan(20);
    expect(rejected).toBeLessThan(290);
  });

  it('keeps unchanged routes as the same checked objects, and a rejected change leaves the last config checkable', () => {
    const checker = new ConfigChecker(registry, REGION);
    const first = base(1_000);
    const a = checker.check(first);
    const routes = first.routes.slice();
    routes[7] = { id: 'r7', paths: ['/s7/*'], upstream_id: 'up2' };
    const b = checker.check({ ...first, revision: 2, routes });
    expect(b.config.routes[8]).toBe(a.config.routes[8]);
    expect(b.config.upstreams).toBe(a.config.upstreams);
    expect(b.routes[7]?.upstream?.id).toBe('up2');
    // A conflict with route 0 (`/s0/:id`) is refused, and so is it again on the next check.
    const bad = routes.slice();
    bad[5] = { id: 'r5', paths: ['/s0/:other'], upstream_id: 'up' };
    expect(() => checker.check({ ...first, revision: 3, routes: bad })).toThrow(/route r5: path \/s0\/:other is route r0's \/s0\/:id/);
    expect(() => checker.check({ ...first, revision: 4, routes: bad })).toThrow(/other parameter names/);
    // Another upstream list is checked whole.
    expect(() => checker.check({ ...first, revision: 5, routes, upstreams: [{ id: 'up', nodes: [{ host: '127.0.0.1', port: 1 }] }] })).toThrow(/unknown upstream_id up2/);
  });
});
