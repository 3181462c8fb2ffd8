import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Consumer } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { authenticate, credentials, sha256hex } from './shared/auth.js';
import { header, queryParam } from './shared/headers.js';
import { authFailures } from './shared/metrics.js';
import { unauthorized } from './shared/respond.js';
import { perSnapshot, setServices } from './shared/services.js';

export const KeyAuthConfig = Strict({
  header: Type.String({ minLength: 1, default: 'apikey', description: 'header carrying the key (default apikey)' }),
  query: Type.String({ minLength: 1, default: 'apikey', description: 'query parameter tried when the header is absent (default apikey)' }),
  hide_credentials: Type.Boolean({ default: false, description: 'remove the key header before proxying (default false)' }),
});
export type KeyAuthConfig = Static<typeof KeyAuthConfig>;

/** A consumer's key: stored as its sha256 (`key_hash`), or given in clear and hashed at load. */
export const KeyAuthCredential = Strict({
  key: Type.Optional(Type.String({ minLength: 8, description: 'the key in clear (hashed at load, never kept)' })),
  key_hash: Type.Optional(Type.String({ pattern: '^sha256:[0-9a-f]{64}$', description: 'sha256:<hex> of the key' })),
});

// Keys are long random strings, so an unsalted sha256 is enough to make a leaked config useless
// and keeps the lookup one hash + one map read per request.
const index = perSnapshot((consumers) => {
  const byHash = new Map<string, Consumer>();
  for (const { consumer, cred } of credentials('key-auth', KeyAuthCredential, consumers)) {
    const hash = cred.key_hash ? cred.key_hash.slice('sha256:'.length) : cred.key ? sha256hex(cred.key) : undefined;
    if (hash) byHash.set(hash, consumer);
  }
  // Keys that matched, so a busy consumer pays the hash once per config, not per request.
  // Only matches are kept: unknown keys cannot grow it.
  return { byHash, known: new Map<string, Consumer>() };
});

const KNOWN_KEYS_MAX = 10_000;

function consumerOf(key: string): Consumer | undefined {
  const { byHash, known } = index();
  const hit = known.get(key);
  if (hit !== undefined) return hit;
  const consumer = byHash.get(sha256hex(key));
  if (consumer !== undefined && known.size < KNOWN_KEYS_MAX) known.set(key, consumer);
  return consumer;
}

function rewrite(ctx: RequestContext, cfg: KeyAuthConfig): ShortCircuit | undefined {
  if (ctx.consumer) return undefined; // another auth plugin already identified the caller
  const key = header(ctx.req, cfg.header) ?? queryParam(ctx.req, cfg.query);
  const consumer = key ? consumerOf(key) : undefined;
  if (!consumer) {
    authFailures.inc({ plugin: 'key-auth', route: ctx.route.id });
    return unauthorized();
  }
  authenticate(ctx, consumer, cfg.hide_credentials ? cfg.header : undefined);
  return undefined;
}

/** key-auth: a consumer is identified by an API key in a header or the query string. */
export const keyAuth: Plugin<KeyAuthConfig> = {
  name: 'key-auth',
  version: '1.0.0',
  priority: 2500,
  schema: KeyAuthConfig,
  credentialSchema: KeyAuthCredential,
  phases: { rewrite },
  init: (services) => setServices(services),
};
