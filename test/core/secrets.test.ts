import { describe, expect, it } from 'vitest';
import { CREDENTIAL_SECRETS, REDACTED, hashKey, hashPassword, redactSecrets, restoreRedacted, verifyScrypt } from '../../src/core/secrets.js';
import { BUILTIN_PLUGINS } from '../../src/plugins/index.js';

describe('secret fields', () => {
  it('every plugin with a credential schema says which of its fields are secret, and they exist in the schema', () => {
    for (const plugin of BUILTIN_PLUGINS) {
      if (!plugin.credentialSchema) continue;
      const fields = CREDENTIAL_SECRETS[plugin.name];
      expect(fields, `${plugin.name}: add its secret fields to CREDENTIAL_SECRETS in src/core/secrets.ts`).toBeDefined();
      const properties = Object.keys((plugin.credentialSchema as { properties?: Record<string, unknown> }).properties ?? {});
      // At least one listed field is real (a rename of every secret field would leave the list stale).
      expect(fields?.some((f) => properties.includes(f)), plugin.name).toBe(true);
    }
  });

  it('redacts consumer credentials and ssl keys without touching the value given', () => {
    const consumer = { username: 'a', plugins: { 'hmac-auth': { secret: 's'.repeat(16) }, 'key-auth': { key_hash: 'sha256:00' }, cors: { allow_origins: '*' } } };
    expect(redactSecrets('consumers', consumer)).toEqual({ username: 'a', plugins: { 'hmac-auth': { secret: REDACTED }, 'key-auth': { key_hash: REDACTED }, cors: { allow_origins: '*' } } });
    expect(consumer.plugins['hmac-auth'].secret).toBe('s'.repeat(16));
    expect(redactSecrets('ssl', { id: 'x', cert: 'C', key: 'K' })).toEqual({ id: 'x', cert: 'C', key: REDACTED });
    expect(redactSecrets('routes', { id: 'r', key: 'not a secret here' })).toEqual({ id: 'r', key: 'not a secret here' });
  });

  it('a redacted value written back takes the stored secret; with nothing stored it is reported', () => {
    const stored = { username: 'a', plugins: { 'hmac-auth': { secret: 'stored-secret-123' } } };
    const back = redactSecrets('consumers', stored);
    expect(restoreRedacted('consumers', back, stored)).toEqual({ value: stored, unresolved: [] });
    expect(restoreRedacted('consumers', back, undefined).unresolved).toEqual(['plugins.hmac-auth.secret']);
  });

  it('hashes: sha256 keys, scrypt passwords that verify, and a hash too costly to check is refused', async () => {
    expect(hashKey('abc')).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const h = await hashPassword('pw', 1024);
    expect(h).toMatch(/^scrypt\$1024\$8\$1\$/);
    expect(await verifyScrypt(h, 'pw')).toBe(true);
    expect(await verifyScrypt(h, 'pW')).toBe(false);
    expect(await verifyScrypt(h.replace('scrypt$1024$', 'scrypt$1048576$'), 'pw')).toBe(false);
  });
});
