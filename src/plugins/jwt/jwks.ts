import type { webcrypto } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTHeaderParameters, type FlattenedJWSInput } from 'jose';
import { boundedGet } from '../../core/bounded-get.js';
import { Counter } from 'prom-client';
import { Strict } from '../../core/model/index.js';
import { Lru } from '../shared/lru.js';
import { pluginMetrics } from '../shared/metrics.js';
import { getServices } from '../shared/services.js';

export const JwksOptions = Strict({
  cooldown_s: Type.Integer({ minimum: 1, default: 30, description: 'at most one fetch of a JWKS URL per this many seconds (refresh on an unknown kid, retry after a failure; default 30)' }),
  cache_max_age_s: Type.Integer({ minimum: 1, default: 600, description: 'keys older than this are refreshed in the background; the cached keys serve meanwhile and while the endpoint is down (default 600)' }),
  timeout_ms: Type.Integer({ minimum: 100, maximum: 30_000, default: 2000, description: 'whole-fetch deadline of a JWKS, connect to last byte (default 2000)' }),
  max_bytes: Type.Integer({ minimum: 1024, maximum: 4_194_304, default: 262_144, description: 'largest JWKS body accepted, bytes (default 256 KiB)' }),
  max_keys: Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: 'most keys a JWKS may hold; a larger set is refused (default 50)' }),
}, { default: {}, description: 'fetching of every JWKS a route uses (its jwks_url and its consumers\' jwks_url)' });
export type JwksOptions = Static<typeof JwksOptions>;

const jwksFetches = new Counter({
  name: 'meridian_plugin_jwks_fetches_total',
  help: 'JWKS fetches made by jwt-auth, by result',
  labelNames: ['result'] as const,
  registers: [pluginMetrics],
});

/** Thrown when a JWKS is needed but was never fetched: the token cannot be judged (503). */
export class JwksUnavailable extends Error {
  constructor(readonly retryAfterS: number) {
    super('JWKS unavailable');
  }
}

/** A URL without its query and credentials, for logs (a query may carry a token). */
function shown(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/**
 * GET a JWKS with every bound a hostile or broken endpoint needs: one deadline for the whole
 * exchange, a body cap checked while streaming (a Content-Length is not trusted), 200 only, no
 * redirects (undici's request does not follow them), at most `max_keys` keys.
 */
export async function fetchJwks(url: string, opts: JwksOptions): Promise<JSONWebKeySet> {
  const body = await boundedGet(url, {
    timeoutMs: opts.timeout_ms,
    maxBytes: opts.max_bytes,
    tooLargeMessage: `body over max_bytes ${opts.max_bytes}`,
    headers: { accept: 'application/jwk-set+json, application/json' },
  });
  const doc: unknown = JSON.parse(body.toString('utf8'));
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error('not a JWKS (no "keys" array)');
  if (keys.length > opts.max_keys) throw new Error(`${keys.length} keys over max_keys ${opts.max_keys}`);
  return doc as JSONWebKeySet;
}

type LocalSet = ReturnType<typeof createLocalJWKSet>;

/**
 * The keys of one JWKS URL, cached. A request never waits for the network while the key it
 * names is cached. It waits (at most `timeout_ms`) only for the one fetch in flight when
 * there is no cached set yet or its `kid` is unknown (the provider may have rotated), and a
 * fetch starts at most once per `cooldown_s` whatever the requests ask: a flood of unknown
 * kids, or an endpoint that is down, costs one fetch per cooldown. Stale keys are refreshed
 * in the background and keep serving while the endpoint fails.
 */
export class RemoteKeySet {
  private local: LocalSet | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  /** Bumped by every successful fetch: what was verified with older keys is judged again. */
  generation = 0;

  constructor(
    readonly url: string,
    private readonly opts: JwksOptions,
    /** Milliseconds, monotonic; tests pass their own clock. */
    private readonly now: () => number = () => performance.now(),
    private readonly fetcher: (url: string, opts: JwksOptions) => Promise<JSONWebKeySet> = fetchJwks,
  ) {}

  /** The key for a token (jose's key-function shape); `getKey` is bound, pass it as is. */
  readonly getKey = async (header: JWTHeaderParameters, token: FlattenedJWSInput): Promise<webcrypto.CryptoKey> => {
    if (this.local === undefined) {
      await this.fetchIfAllowed();
      if (this.local === undefined) throw new JwksUnavailable(this.retryAfterS());
    } else {
      this.refreshIfStale();
    }
    const local: LocalSet = this.local;
    try {
      return await local(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      await this.fetchIfAllowed();
      if (this.local === local) throw err; // nothing new (cooling down, or the fetch failed)
      return this.local(header, token);
    }
  };

  /**
   * Starts a background refresh when the keys are older than cache_max_age_s (the cached keys
   * answer meanwhile). Also called for a token remembered as verified, which skips getKey.
   */
  refreshIfStale(): void {
    if (this.local !== undefined && this.now() - this.fetchedAt >= this.opts.cache_max_age_s * 1000) void this.fetchIfAllowed();
  }

  /** Whether keys were ever fetched (for /status-like views and tests). */
  get loaded(): boolean {
    return this.local !== undefined;
  }

  private retryAfterS(): number {
    const left = this.attemptedAt + this.opts.cooldown_s * 1000 - this.now();
    return Math.max(1, Math.ceil(left / 1000));
  }

  /** Joins the fetch in flight, or starts one unless a fetch started less than a cooldown ago. */
  private fetchIfAllowed(): Promise<void> {
    if (this.inflight) return this.inflight;
    if (this.now() - this.attemptedAt < this.opts.cooldown_s * 1000) return Promise.resolve();
    this.attemptedAt = this.now();
    this.inflight = this.fetcher(this.url, this.opts)
      .then((jwks) => {
        this.local = createLocalJWKSet(jwks);
        this.fetchedAt = this.now();
        this.generation++;
        jwksFetches.inc({ result: 'ok' });
      })
      .catch((err: unknown) => {
        jwksFetches.inc({ result: 'error' });
        getServices().log.warn({ plugin: 'jwt-auth', jwks: shown(this.url), cached: this.local !== undefined, err: (err as Error).message }, 'JWKS fetch failed');
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }
}

/**
 * One key set per (URL, options) for the worker, kept across config snapshots so a reload
 * neither refetches nor loses the keys of an endpoint that is down. Bounded: a config that
 * names many URLs over time pushes out the ones not used recently.
 */
const sets = new Lru<string, RemoteKeySet>(256);
const optionKeys = new WeakMap<JwksOptions, string>();

export function keySetFor(url: string, opts: JwksOptions): RemoteKeySet {
  let optKey = optionKeys.get(opts);
  if (optKey === undefined) {
    optKey = JSON.stringify([opts.cooldown_s, opts.cache_max_age_s, opts.timeout_ms, opts.max_bytes, opts.max_keys]);
    optionKeys.set(opts, optKey);
  }
  const id = `${url}\n${optKey}`;
  let set = sets.get(id);
  if (set === undefined) {
    set = new RemoteKeySet(url, opts);
    sets.set(id, set);
  }
  return set;
}

/** Drops every cached key set (plugin close, tests). */
export function clearKeySets(): void {
  sets.clear();
}
