import type { Consumer, ResourceKind } from '../../src/core/model/index.js';
import { isMeridianError, type MeridianError } from '../../src/core/errors/index.js';
import { hashKey, hashPassword, parseScryptHash, restoreRedacted, verifyScrypt } from '../../src/core/secrets.js';
import { SINGULAR, type ResourceService } from './resource-service.js';
import { invalid } from './invalid.js';

/** key-auth's own schema asks for this much (src/plugins/key-auth.ts); checked here because the clear key is not kept. */
const KEY_MIN_LENGTH = 8;

type Credential = Record<string, unknown>;

/**
 * What a write stores of its secrets. A secret sent back as the redaction marker (a value read
 * with a role below admin, then written) keeps the stored one. A consumer's key-auth key and
 * basic-auth password are stored only as hashes: the clear value never reaches etcd (central
 * or regional) nor a gateway. A password that matches the stored hash keeps that hash, so
 * re-applying the same manifest changes nothing.
 */
export async function protectSecrets(kind: ResourceKind, value: unknown, stored: unknown): Promise<unknown> {
  const restored = restoreRedacted(kind, value, stored);
  if (restored.unresolved.length > 0) {
    throw invalid(SINGULAR[kind], restored.unresolved[0] as string, 'is the redaction marker and no stored value exists to keep');
  }
  if (kind !== 'consumers') return restored.value;
  const consumer = restored.value as Consumer;
  const plugins = consumer.plugins;
  if (!plugins) return consumer;
  const previous = (stored as Consumer | undefined)?.plugins;
  const out: Record<string, unknown> = { ...plugins };
  const key = credential(plugins['key-auth']);
  if (key && typeof key.key === 'string') {
    if (key.key.length < KEY_MIN_LENGTH) throw pluginInvalid('key-auth', 'key', `must be at least ${KEY_MIN_LENGTH} characters`);
    const { key: clear, ...rest } = key;
    out['key-auth'] = { ...rest, key_hash: hashKey(clear as string) };
  }
  const basic = credential(plugins['basic-auth']);
  if (basic && typeof basic.password === 'string') {
    if (basic.password.length === 0) throw pluginInvalid('basic-auth', 'password', 'must be at least 1 characters');
    const { password, ...rest } = basic;
    const kept = credential(previous?.['basic-auth'])?.password_hash;
    const reuse = typeof kept === 'string' && parseScryptHash(kept) !== undefined && (await verifyScrypt(kept, password as string));
    out['basic-auth'] = { ...rest, password_hash: reuse ? kept : await hashPassword(password as string) };
  }
  return { ...consumer, plugins: out };
}

function credential(v: unknown): Credential | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Credential) : undefined;
}

function pluginInvalid(plugin: string, field: string, reason: string): MeridianError {
  return invalid('consumer', `plugins.${plugin}.${field}`, reason);
}

/** Whether a stored consumer still holds a clear key-auth key or basic-auth password. */
function holdsClearSecret(c: Consumer): boolean {
  return typeof credential(c.plugins?.['key-auth'])?.key === 'string' || typeof credential(c.plugins?.['basic-auth'])?.password === 'string';
}

/**
 * Consumers written before the controller hashed on write keep a clear key or password until
 * rewritten: the leader rewrites them hashed (guarded by their revision, so a concurrent change
 * wins and is hashed by its own write). Returns how many were rewritten.
 */
export async function hashClearSecrets(svc: ResourceService, stopped: () => boolean): Promise<number> {
  const { items } = await svc.list<Consumer>('consumers');
  let done = 0;
  for (const item of items) {
    if (stopped()) break;
    if (!holdsClearSecret(item.value)) continue;
    try {
      await svc.put('consumers', item.id, item.value, { name: 'controller', role: 'admin' }, { ifMatch: item.revision });
      done++;
    } catch (err) {
      if (!isMeridianError(err, 'MERIDIAN_ERR_CONTROLLER_CONFLICT')) throw err;
    }
  }
  return done;
}
