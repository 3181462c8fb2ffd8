import { describe, expect, it } from 'vitest';
import { call, controllerForFile } from './helpers.js';

// The controller runs each plugin's schema and config check on write (what a gateway would
// refuse is a 400 naming the field), against real etcd.
const env = controllerForFile({ upstream: true });

const rewrite = (pattern: string) => ({ 'proxy-rewrite': { regex_uri: [pattern, '/v2/$1'] } });

describe('plugin configs on write', () => {
  it('a proxy-rewrite regex_uri that can backtrack super-linearly is refused with regex_uri named, in a route, a global rule and a consumer', async () => {
    const writes: Array<[string, Record<string, unknown>, RegExp]> = [
      ['/v1/routes/redos', { paths: ['/r'], upstream_id: 'u', plugins: rewrite('(a+)+$') }, /^invalid route: plugins\.proxy-rewrite\.regex_uri\[0\]: invalid regular expression: nested quantifier/],
      ['/v1/routes/redos-inline', { paths: ['/r'], upstream: { nodes: [{ host: '127.0.0.1', port: 9 }], plugins: rewrite('(a|a)*') } }, /^invalid route: upstream\.plugins\.proxy-rewrite\.regex_uri\[0\]: .*super-linearly/],
      ['/v1/upstreams/redos', { nodes: [{ host: '127.0.0.1', port: 9 }], plugins: rewrite('(\\w+\\s?)*$') }, /^invalid upstream: plugins\.proxy-rewrite\.regex_uri\[0\]: .*super-linearly/],
      ['/v1/global_rules/redos', { plugins: rewrite('(a)\\1') }, /^invalid global_rule: plugins\.proxy-rewrite\.regex_uri\[0\]: .*super-linearly/],
      ['/v1/consumers/redos', { plugins: { 'key-auth': { key: 'redos-key-123456' }, ...rewrite('(a+)+$') } }, /^invalid consumer: plugins\.proxy-rewrite\.regex_uri\[0\]: .*super-linearly/],
    ];
    for (const [path, body, message] of writes) {
      const r = await call(env.base, 'PUT', path, { body });
      expect(r.status, path).toBe(400);
      expect(r.body.code, path).toBe('MERIDIAN_ERR_CONTROLLER_INVALID');
      expect(r.body.message, path).toMatch(message);
      expect(r.body.field, path).toBe(path === '/v1/routes/redos-inline' ? 'upstream.plugins.proxy-rewrite.regex_uri[0]' : 'plugins.proxy-rewrite.regex_uri[0]');
      expect((await call(env.base, 'GET', path)).status, path).toBe(404);
    }
  });

  it('a safe regex_uri is stored as sent', async () => {
    const r = await call(env.base, 'PUT', '/v1/routes/safe-rewrite', { body: { paths: ['/api/*'], upstream_id: 'u', plugins: rewrite('^/api/(.*)$') } });
    expect(r.status).toBe(201);
    const stored = await call<{ value: { plugins: Record<string, unknown> } }>(env.base, 'GET', '/v1/routes/safe-rewrite');
    expect(JSON.stringify(stored.body)).toContain('^/api/(.*)$');
  });

  it('any plugin schema error and an unknown plugin are refused with the field named', async () => {
    const bad = await call(env.base, 'PUT', '/v1/routes/bad-uri', { body: { paths: ['/r'], upstream_id: 'u', plugins: { 'proxy-rewrite': { uri: 'no-slash' } } } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^invalid route: plugins\.proxy-rewrite\.uri: /);
    expect(bad.body.field).toBe('plugins.proxy-rewrite.uri');
    const unknown = await call(env.base, 'PUT', '/v1/routes/unknown-plugin', { body: { paths: ['/r'], upstream_id: 'u', plugins: { 'no-such-plugin': {} } } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(/^invalid route: plugins\.no-such-plugin: unknown plugin/);
    expect(unknown.body.field).toBe('plugins.no-such-plugin');
  });
});
