import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServers } from '../harness/index.js';
import { EtcdStore } from '../../src/core/etcd-store.js';
import { REDACTED, verifyScrypt } from '../../src/core/secrets.js';
import type { Controller } from '../../controller/controller.js';
import { call, startController, TOKENS } from './helpers.js';

// Issue 16 item 3: consumer secrets were readable with a read token and stored in clear.
const servers = await useServers();
let ctl: Controller;
let base: string;
let etcd: EtcdStore;
let centralEndpoint: string;

const KEY = 'alice-key-0123456789';
const PASSWORD = 'wonderland-password';
const HMAC = 'hmac-shared-secret-0123456789';
const JWT = 'jwt-hs256-secret-0123456789';
const CONSUMER = {
  plugins: {
    'key-auth': { key: KEY },
    'basic-auth': { username: 'alice', password: PASSWORD },
    'hmac-auth': { secret: HMAC },
    'jwt-auth': { key: 'alice-jwt', secret: JWT },
    'limit-count': { count: 10, time_window: 60 },
  },
  labels: { team: 'a' },
};

type Plugins = Record<string, Record<string, unknown>>;
type ConsumerBody = { username: string; plugins: Plugins; labels?: Record<string, string> };

/** Every value under the controller's prefix in central etcd, as stored. */
async function rawCentral(): Promise<Map<string, string>> {
  const all = await etcd.client.getAll().prefix('/meridian/').strings();
  return new Map(Object.entries(all));
}

beforeAll(async () => {
  const central = await servers.etcd();
  centralEndpoint = central.endpoint;
  ctl = await startController(central.endpoint);
  base = ctl.url;
  etcd = new EtcdStore({ endpoints: [central.endpoint] });
});
afterAll(async () => {
  await ctl?.stop();
  await etcd?.stop();
});

describe('consumer secrets', () => {
  it('are stored as hashes: central etcd holds no clear key or password (nor any in the audit log)', async () => {
    const created = await call<{ value: ConsumerBody }>(base, 'PUT', '/v1/consumers/alice', { token: TOKENS.write, body: CONSUMER });
    expect(created.status).toBe(201);
    const raw = await rawCentral();
    const stored = JSON.parse(raw.get('/meridian/consumers/alice') as string) as ConsumerBody;
    expect(stored.plugins['key-auth']).toEqual({ key_hash: `sha256:${createHash('sha256').update(KEY).digest('hex')}` });
    const basic = stored.plugins['basic-auth'] as { username: string; password_hash: string };
    expect(Object.keys(basic).sort()).toEqual(['password_hash', 'username']);
    expect(basic.password_hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyScrypt(basic.password_hash, PASSWORD)).toBe(true);
    // The HMAC secret must stay recoverable: the gateway computes the same HMAC.
    expect(stored.plugins['hmac-auth']).toEqual({ secret: HMAC });
    for (const [key, value] of raw) {
      expect(value.includes(KEY), key).toBe(false);
      expect(value.includes(PASSWORD), key).toBe(false);
      if (key.startsWith('/meridian/audit/')) {
        expect(value.includes(HMAC), key).toBe(false);
        expect(value.includes(JWT), key).toBe(false);
      }
    }
  });

  it('roles below admin see every secret redacted (get, list, write answers); admins see the HMAC secret', async () => {
    for (const token of [TOKENS.read, TOKENS.write]) {
      const one = await call<ConsumerBody>(base, 'GET', '/v1/consumers/alice', { token });
      const list = await call<{ items: Array<{ id: string; value: ConsumerBody }> }>(base, 'GET', '/v1/consumers', { token });
      const listed = list.body.items.find((i) => i.id === 'alice')?.value;
      for (const c of [one.body, listed]) {
        expect(c?.plugins['key-auth']).toEqual({ key_hash: REDACTED });
        expect(c?.plugins['basic-auth']).toEqual({ username: 'alice', password_hash: REDACTED });
        expect(c?.plugins['hmac-auth']).toEqual({ secret: REDACTED });
        expect(c?.plugins['jwt-auth']).toMatchObject({ key: 'alice-jwt', secret: REDACTED });
        // What is not secret stays readable.
        expect(c?.plugins['limit-count']).toEqual({ count: 10, time_window: 60 });
      }
    }
    const write = await call<{ value: ConsumerBody }>(base, 'PUT', '/v1/consumers/alice', { token: TOKENS.write, body: { ...CONSUMER, labels: { team: 'b' } } });
    expect(write.body.value.plugins['hmac-auth']).toEqual({ secret: REDACTED });
    const admin = await call<ConsumerBody>(base, 'GET', '/v1/consumers/alice', { token: TOKENS.admin });
    expect(admin.body.plugins['hmac-auth']).toEqual({ secret: HMAC });
    expect(admin.body.plugins['jwt-auth']).toMatchObject({ secret: JWT });
    expect(admin.body.plugins['key-auth']?.key_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('re-sending the same clear password changes nothing; a value read redacted and written back keeps the stored secrets', async () => {
    const before = (await call<ConsumerBody>(base, 'GET', '/v1/consumers/alice')).body;
    const again = await call(base, 'PUT', '/v1/consumers/alice', { token: TOKENS.write, body: { ...CONSUMER, labels: { team: 'b' } } });
    expect(again.body.result).toBe('unchanged');

    const redacted = (await call<ConsumerBody>(base, 'GET', '/v1/consumers/alice', { token: TOKENS.write })).body;
    const edited = await call(base, 'PUT', '/v1/consumers/alice', { token: TOKENS.write, body: { ...redacted, labels: { team: 'c' } } });
    expect(edited.body.result).toBe('updated');
    const after = (await call<ConsumerBody>(base, 'GET', '/v1/consumers/alice')).body;
    expect(after.plugins).toEqual(before.plugins);
    expect(after.labels).toEqual({ team: 'c' });

    // The marker with nothing stored behind it is refused, never stored as a secret.
    const orphan = await call(base, 'PUT', '/v1/consumers/bob', { token: TOKENS.write, body: { plugins: { 'hmac-auth': { secret: REDACTED } } } });
    expect(orphan.status).toBe(400);
    expect(orphan.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_INVALID', message: 'invalid consumer: plugins.hmac-auth.secret: is the redaction marker and no stored value exists to keep', field: 'plugins.hmac-auth.secret' });
    const short = await call(base, 'PUT', '/v1/consumers/bob', { token: TOKENS.write, body: { plugins: { 'key-auth': { key: 'short' } } } });
    expect(short.body).toEqual({ code: 'MERIDIAN_ERR_CONTROLLER_INVALID', message: 'invalid consumer: plugins.key-auth.key: must be at least 8 characters', field: 'plugins.key-auth.key' });
  });

  it('the audit log says what changed, secrets named but never shown', async () => {
    await call(base, 'PUT', '/v1/consumers/carol', { token: TOKENS.write, body: { plugins: { 'hmac-auth': { secret: 'carol-secret-0123456789' } } } });
    await call(base, 'PUT', '/v1/consumers/carol', { token: TOKENS.write, body: { plugins: { 'hmac-auth': { secret: 'carol-rotated-0123456789' } }, labels: { tier: 'gold' } } });
    const log = await call<{ items: Array<Record<string, unknown>> }>(base, 'GET', '/v1/audit?limit=2');
    const [create, update] = log.body.items;
    expect(create).toMatchObject({ action: 'create', kind: 'consumers', id: 'carol', after: { username: 'carol', plugins: { 'hmac-auth': { secret: REDACTED } } } });
    expect(create?.before).toBeUndefined();
    expect(update).toMatchObject({
      action: 'update', who: 'write-user',
      before: { plugins: { 'hmac-auth': { secret: REDACTED } } },
      after: { plugins: { 'hmac-auth': { secret: REDACTED } }, labels: { tier: 'gold' } },
      changed: ['plugins.hmac-auth.secret', 'labels'],
    });
    expect(JSON.stringify(log.body)).not.toContain('carol-rotated');
  });

  it('consumers stored in clear before hashing on write are rewritten hashed by the next leader', async () => {
    const legacy = { username: 'legacy', plugins: { 'key-auth': { key: 'legacy-key-0123456789' }, 'basic-auth': { username: 'legacy', password: 'legacy-password' } } };
    await etcd.client.put('/meridian/consumers/legacy').value(JSON.stringify(legacy));
    await ctl.stop();
    ctl = await startController(centralEndpoint);
    base = ctl.url;
    const stored = await waitForHashed('legacy');
    expect(stored.plugins['key-auth']).toEqual({ key_hash: `sha256:${createHash('sha256').update('legacy-key-0123456789').digest('hex')}` });
    expect(await verifyScrypt(stored.plugins['basic-auth']?.password_hash as string, 'legacy-password')).toBe(true);
    const raw = [...(await rawCentral()).values()].join('\n');
    expect(raw).not.toContain('legacy-key-0123456789');
    expect(raw).not.toContain('legacy-password');
  }, 30_000);
});

async function waitForHashed(id: string): Promise<ConsumerBody> {
  let value: ConsumerBody | undefined;
  await expect.poll(async () => {
    const raw = await etcd.client.get(`/meridian/consumers/${id}`).string();
    value = raw ? (JSON.parse(raw) as ConsumerBody) : undefined;
    return value?.plugins['basic-auth']?.password_hash !== undefined && value.plugins['key-auth']?.key === undefined;
  }, { timeout: 20_000, interval: 100 }).toBe(true);
  return value as ConsumerBody;
}
