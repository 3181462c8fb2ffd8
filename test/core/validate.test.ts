import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { applyEnvOverrides } from '../../src/core/config-file.js';
import { CATALOGUE, MeridianError } from '../../src/core/errors/index.js';
import { Route, Upstream } from '../../src/core/model/index.js';
import { check, fieldName, validate } from '../../src/core/validate.js';

describe('validate', () => {
  it('names nested fields the way a person writes them', () => {
    expect(fieldName('/routes/0/paths/2')).toBe('routes[0].paths[2]');
    expect(fieldName('')).toBe('config');
  });

  it('applies the defaults stated in the schema', () => {
    const u = validate(Upstream, { id: 'u1', nodes: [{ host: '127.0.0.1', port: 80 }] });
    expect(u.type).toBe('roundrobin');
    expect(u.retries).toBe(1);
    expect(u.nodes?.[0]?.weight).toBe(1);
  });

  it('reports unknown keys before type noise, with the exact field', () => {
    const r = check(Route, { id: 'r1', paths: ['/a'], upstream_id: 'u', colour: 1, priority: 'high' }, 'route');
    expect(r).toEqual({ ok: false, field: 'colour', reason: 'unknown key', path: '/colour' });
  });

  it('reports a bad enum with the allowed values', () => {
    const r = check(Upstream, { id: 'u', type: 'random' }, 'upstream');
    expect(r).toEqual({ ok: false, field: 'type', reason: 'must be one of "roundrobin", "least_conn", "ewma", "chash", got string "random"', path: '/type' });
  });

  it('a value refused as a whole is named by the root, with the empty path', () => {
    expect(check(Route, ['/a'], 'route')).toEqual({ ok: false, field: 'route', reason: 'must be an object, got array ["/a"]', path: '' });
  });

  it('reports a pattern mismatch', () => {
    const r = check(Route, { id: 'r1', paths: ['no-slash'] }, 'route');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.field).toBe('paths[0]');
  });

  it('throws the catalogue error', () => {
    expect(() => validate(Type.Object({ a: Type.Integer() }), { a: 1.5 })).toThrow(MeridianError);
    try {
      validate(Type.Object({ a: Type.Integer() }), { a: 1.5 });
    } catch (err) {
      expect((err as MeridianError).code).toBe('MERIDIAN_ERR_CONFIG_INVALID');
      expect((err as MeridianError).status).toBe(400);
    }
  });
});

describe('environment overrides', () => {
  it('sets nested keys, parsing JSON values', () => {
    const out = applyEnvOverrides({ etcd: { prefix: '/a' } }, { MERIDIAN__ETCD__ENDPOINTS: '["http://127.0.0.1:2379"]', MERIDIAN__WORKERS: '2', MERIDIAN__NAME: 'n1', OTHER: 'x' });
    expect(out).toEqual({ etcd: { prefix: '/a', endpoints: ['http://127.0.0.1:2379'] }, workers: 2, name: 'n1' });
  });

  it('refuses prototype keys', () => {
    expect(() => applyEnvOverrides({}, { MERIDIAN____PROTO____X: '1' })).toThrow(MeridianError);
  });
});

describe('error catalogue', () => {
  it('every code is MERIDIAN_ERR_<AREA>_<DETAIL> with a message and an HTTP status', () => {
    const codes = Object.keys(CATALOGUE);
    expect(codes.length).toBeGreaterThan(10);
    for (const [code, spec] of Object.entries(CATALOGUE)) {
      expect(code).toMatch(/^MERIDIAN_ERR_[A-Z]+_[A-Z0-9_]+$/);
      expect(spec.message.length).toBeGreaterThan(5);
      expect(spec.status).toBeGreaterThanOrEqual(400);
      expect(spec.status).toBeLessThan(600);
    }
  });

  it('renders templates and serialises to the wire shape', () => {
    const e = new MeridianError('MERIDIAN_ERR_STORE_CONFLICT', { key: 'routes/a', expected: 3, actual: '5' });
    expect(e.toJSON()).toEqual({ code: 'MERIDIAN_ERR_STORE_CONFLICT', message: 'revision conflict on routes/a: expected 3, found 5' });
    expect(() => new MeridianError('MERIDIAN_ERR_NOPE')).toThrow('unknown error code');
  });

  it('carries the field an error is about, when given, beside the unchanged code and message', () => {
    const cause = new Error('under');
    const e = new MeridianError('MERIDIAN_ERR_CONTROLLER_INVALID', { kind: 'upstream', field: 'nodes[0].port', reason: 'must be <= 65535' }, { field: 'nodes[0].port', cause });
    expect(e.toJSON()).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_INVALID', message: 'invalid upstream: nodes[0].port: must be <= 65535', field: 'nodes[0].port' });
    expect(e.cause).toBe(cause);
    expect(Object.hasOwn(new MeridianError('MERIDIAN_ERR_CONTROLLER_UNAUTHORIZED').toJSON(), 'field')).toBe(false);
  });
});

describe('environment overrides follow the schema', () => {
  it('keep a number-looking value as text where the field is a string', async () => {
    const { loadConfig } = await import('../../src/core/config-file.js');
    const S = Type.Object({ base: Type.String(), port: Type.Integer() });
    expect(loadConfig(S, undefined, { MERIDIAN__BASE: '127.60', MERIDIAN__PORT: '53' })).toEqual({ base: '127.60', port: 53 });
  });
});
