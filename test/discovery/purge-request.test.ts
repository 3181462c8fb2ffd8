import { describe, expect, it } from 'vitest';
import { parseDiscoveryConfig, parsePurgeRequest } from '../../src/discovery/index.js';

describe('discovery config and purge request schemas', () => {
  it('fills every default and rejects unknown keys and reversed TTL bounds', () => {
    const c = parseDiscoveryConfig({});
    expect(c).toMatchObject({ servers: [{ host: '127.0.0.1', port: 8600 }], domain: 'consul', query_timeout_ms: 1_000, udp_answer_limit: 3, ttl_floor_ms: 1_000, ttl_ceiling_ms: 30_000, refresh_ahead: 0.75, max_stale_ms: 300_000, negative_ttl_ms: 1_000, retry_ms: 500 });
    expect(() => parseDiscoveryConfig({ ttl: 5 })).toThrow(/discovery\.ttl: unknown key/);
    expect(() => parseDiscoveryConfig({ ttl_floor_ms: 5_000, ttl_ceiling_ms: 1_000 })).toThrow(/ttl_ceiling_ms: must be >= ttl_floor_ms/);
  });

  it('accepts a purge body with any subset of service, datacenter, instance and names a bad field', () => {
    expect(parsePurgeRequest({})).toEqual({});
    expect(parsePurgeRequest(undefined)).toEqual({});
    expect(parsePurgeRequest({ service: 'api', instance: '127.0.0.21:9001' })).toEqual({ service: 'api', instance: '127.0.0.21:9001' });
    expect(() => parsePurgeRequest({ service: '' })).toThrow(expect.objectContaining({ code: 'MERIDIAN_ERR_DISCOVERY_PURGE_INVALID', status: 400 }));
    expect(() => parsePurgeRequest({ svc: 'api' })).toThrow(/invalid purge request: svc: unknown key/);
  });
});
