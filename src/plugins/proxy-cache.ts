import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { header } from './shared/headers.js';
import { Lru } from './shared/lru.js';
import { cacheResults, redisCalls } from './shared/metrics.js';
import { DEFAULT_REDIS, RedisSettings, closeRedis, redisFor, type RedisHandle } from './shared/redis.js';
import { setServices } from './shared/services.js';

const KeyPart = Type.Union([Type.Literal('method'), Type.Literal('host'), Type.Literal('uri'), Type.Literal('path'), Type.Literal('consumer'), Type.String({ pattern: '^(header|query|cookie):[A-Za-z0-9_-]+$' })]);

export const ProxyCacheConfig = Strict({
  key: Type.Array(KeyPart, { minItems: 1, default: ['method', 'host', 'uri'], description: 'parts of the cache key: method, host, uri (path+query), path, consumer, header:<name>, query:<name>, cookie:<name> (default method, host, uri)' }),
  ttl_s: Type.Integer({ minimum: 1, default: 60, description: 'seconds a response is fresh (default 60)' }),
  stale_s: Type.Integer({ minimum: 0, default: 300, description: 'seconds after ttl a response may still be served when the upstream fails (default 300)' }),
  statuses: Type.Array(Type.Integer({ minimum: 200, maximum: 599 }), { minItems: 1, default: [200, 301, 404], description: 'upstream statuses stored (default 200, 301, 404)' }),
  max_body_bytes: Type.Integer({ minimum: 1, default: 1_048_576, description: 'larger responses are not stored (default 1 MiB)' }),
  local_entries: Type.Integer({ minimum: 0, default: 1_000, description: 'level 1: entries in this worker\'s LRU; 0 = none (default 1000)' }),
  policy: Type.Union([Type.Literal('redis'), Type.Literal('local')], { default: 'redis', description: 'level 2 in Redis shared by the region, or local only (default redis)' }),
  redis: Type.Optional(RedisSettings),
});
export type ProxyCacheConfig = Static<typeof ProxyCacheConfig>;

interface Entry {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  /** epoch ms: stored at, fresh until, then stale until */
  stored: number;
  fresh: number;
  stale: number;
}

// Headers about one connection or one transfer are never replayed from the cache.
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date', 'set-cookie', 'content-length', 'age']);

const locals = new WeakMap<ProxyCacheConfig, Lru<string, Entry>>();
const handles = new WeakMap<ProxyCacheConfig, RedisHandle>();

function localOf(cfg: ProxyCacheConfig): Lru<string, Entry> | undefined {
  if (cfg.local_entries === 0) return undefined;
  let l = locals.get(cfg);
  if (!l) {
    l = new Lru(cfg.local_entries);
    locals.set(cfg, l);
  }
  return l;
}

function redisOf(cfg: ProxyCacheConfig): RedisHandle | undefined {
  if (cfg.policy !== 'redis') return undefined;
  let h = handles.get(cfg);
  if (!h) {
    h = redisFor(cfg.redis ?? DEFAULT_REDIS);
    handles.set(cfg, h);
  }
  return h;
}

function keyOf(ctx: RequestContext, cfg: ProxyCacheConfig): string {
  const parts: string[] = [ctx.route.id];
  for (const p of cfg.key) {
    if (p === 'method') parts.push(ctx.req.method === 'HEAD' ? 'GET' : (ctx.req.method ?? 'GET')); // HEAD is served from the GET entry
    else if (p === 'host') parts.push(header(ctx.req, 'host') ?? '');
    else if (p === 'uri') parts.push(ctx.req.url ?? '/');
    else if (p === 'path') parts.push(ctx.path);
    else if (p === 'consumer') parts.push(ctx.consumer?.username ?? '');
    else {
      const [kind, name] = p.split(':') as [string, string];
      if (kind === 'header') parts.push(header(ctx.req, name) ?? '');
      else if (kind === 'query') parts.push(new URLSearchParams((ctx.req.url ?? '').split('?')[1] ?? '').get(name) ?? '');
      else parts.push(/* cookie */ (header(ctx.req, 'cookie') ?? '').split(';').map((c) => c.trim()).find((c) => c.startsWith(`${name}=`))?.slice(name.length + 1) ?? '');
    }
  }
  return `meridian:cache:${createHash('sha256').update(parts.join('\0')).digest('base64url')}`;
}

function encode(e: Entry): string {
  return JSON.stringify({ s: e.status, h: e.headers, b: e.body.toString('base64'), a: e.stored, f: e.fresh, t: e.stale });
}
function decode(s: string): Entry | undefined {
  try {
    const o = JSON.parse(s) as { s: number; h: Record<string, string | string[]>; b: string; a: number; f: number; t: number };
    return { status: o.s, headers: o.h, body: Buffer.from(o.b, 'base64'), stored: o.a, fresh: o.f, stale: o.t };
  } catch {
    return undefined;
  }
}

function answer(e: Entry, state: 'HIT' | 'STALE', now: number): ShortCircuit {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  headers['X-Cache-Status'] = state;
  headers.Age = String(Math.max(0, Math.floor((now - e.stored) / 1000)));
  return { status: e.status, headers, body: e.body };
}

async function lookup(key: string, cfg: ProxyCacheConfig): Promise<Entry | undefined> {
  const local = localOf(cfg)?.get(key);
  if (local) return local;
  const h = redisOf(cfg);
  if (!h || !(await h.whenUsable())) return undefined;
  try {
    const raw = await h.client.get(key);
    redisCalls.inc({ plugin: 'proxy-cache', result: 'ok' });
    const e = raw ? decode(raw) : undefined;
    if (e) localOf(cfg)?.set(key, e);
    return e;
  } catch (err) {
    // A cache that is down is a miss, never an error for the client.
    h.noteDown(err);
    redisCalls.inc({ plugin: 'proxy-cache', result: 'error' });
    return undefined;
  }
}

function store(key: string, cfg: ProxyCacheConfig, e: Entry): void {
  localOf(cfg)?.set(key, e);
  const h = redisOf(cfg);
  if (!h) return;
  // Off the response path: the client already has its answer.
  void h.whenUsable().then(async (ok) => {
    if (!ok) return;
    try {
      await h.client.set(key, encode(e), 'PX', Math.max(1, e.stale - Date.now()));
      redisCalls.inc({ plugin: 'proxy-cache', result: 'ok' });
    } catch (err) {
      h.noteDown(err);
    }
  });
}

function cacheable(headers: Readonly<Record<string, string | string[]>>): boolean {
  const cc = headers['cache-control'];
  const v = (Array.isArray(cc) ? cc.join(',') : (cc ?? '')).toLowerCase();
  return !/(no-store|private|no-cache)/.test(v) && headers['set-cookie'] === undefined;
}

const VAR = 'proxy-cache';

async function beforeProxy(ctx: RequestContext, cfg: ProxyCacheConfig): Promise<ShortCircuit | undefined> {
  if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') return undefined;
  const key = keyOf(ctx, cfg);
  const now = Date.now();
  const e = await lookup(key, cfg);
  if (e && now < e.fresh) {
    cacheResults.inc({ route: ctx.route.id, result: 'hit' });
    return answer(e, 'HIT', now);
  }
  ctx.vars.set(VAR, 'MISS');
  const isGet = ctx.req.method === 'GET';
  if (isGet) {
    ctx.captureBody = {
      maxBytes: cfg.max_body_bytes,
      done: (body, headers) => {
        const status = ctx.upstreamStatus;
        if (status === undefined || !cfg.statuses.includes(status) || !cacheable(headers)) return;
        const kept: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(headers)) if (!HOP.has(k.toLowerCase())) kept[k] = v;
        const t = Date.now();
        store(key, cfg, { status, headers: kept, body, stored: t, fresh: t + cfg.ttl_s * 1000, stale: t + (cfg.ttl_s + cfg.stale_s) * 1000 });
      },
    };
  }
  if (e && now < e.stale) {
    ctx.upstreamFallback = () => {
      cacheResults.inc({ route: ctx.route.id, result: 'stale' });
      ctx.vars.set(VAR, 'STALE');
      return answer(e, 'STALE', Date.now());
    };
  }
  cacheResults.inc({ route: ctx.route.id, result: 'miss' });
  return undefined;
}

function headerFilter(ctx: RequestContext): undefined {
  if (ctx.vars.get(VAR) === 'MISS') ctx.responseHeaders['X-Cache-Status'] = 'MISS';
  return undefined;
}

/** proxy-cache: GET/HEAD responses in a local LRU and Redis, with serve-stale on upstream failure. */
export const proxyCache: Plugin<ProxyCacheConfig> = {
  name: 'proxy-cache',
  version: '1.0.0',
  priority: 1085,
  schema: ProxyCacheConfig,
  check: (cfg) => (cfg.policy === 'local' && cfg.local_entries === 0 ? { field: 'local_entries', reason: 'must be > 0 when policy is "local"' } : undefined),
  phases: { before_proxy: beforeProxy, header_filter: headerFilter },
  init: (services) => setServices(services),
  close: () => closeRedis(),
};
