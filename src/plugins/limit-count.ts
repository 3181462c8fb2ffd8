import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { KeyType, keyCheck, limitKey } from './shared/limit-key.js';
import { LocalWindows, type Decision } from './shared/local-window.js';
import { Lru } from './shared/lru.js';
import { limitFallback, limitRejected, redisCalls } from './shared/metrics.js';
import { DEFAULT_REDIS, RedisSettings, closeRedis, redisFor, type RedisHandle } from './shared/redis.js';
import { deny } from './shared/respond.js';
import { setServices } from './shared/services.js';
import { FIXED, MULTI, SLIDING } from './limit-count-lua.js';

export const LimitCountConfig = Strict({
  count: Type.Integer({ minimum: 1, description: 'requests allowed per window (required)' }),
  time_window: Type.Integer({ minimum: 1, description: 'window length in seconds (required)' }),
  key_type: KeyType,
  header: Type.Optional(Type.String({ minLength: 1, description: 'header counted by when key_type is header' })),
  group: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]+$', description: 'share one counter between routes with the same group (default: per route)' })),
  algorithm: Type.Union([Type.Literal('fixed'), Type.Literal('sliding')], { default: 'fixed', description: 'fixed or sliding window (default fixed)' }),
  policy: Type.Union([Type.Literal('redis'), Type.Literal('local')], { default: 'redis', description: 'redis: shared by every gateway; local: per worker (default redis)' }),
  mode: Type.Union([Type.Literal('strict'), Type.Literal('batched')], { default: 'strict', description: 'strict: every decision taken in Redis (concurrent requests for one key share a call); batched: spend budget leased in batches (fixed window only) (default strict)' }),
  batch_size: Type.Integer({ minimum: 0, default: 0, description: 'batched: requests leased per Redis call; 0 = 1% of count, at least 1 (default 0)' }),
  show_headers: Type.Boolean({ default: true, description: 'send RateLimit-Limit/Remaining/Reset (default true)' }),
  redis: Type.Optional(RedisSettings),
});
export type LimitCountConfig = Static<typeof LimitCountConfig>;

const local = new LocalWindows();


/** Per config object (one per compiled chain): its Redis handle, resolved once. */
const handles = new WeakMap<LimitCountConfig, RedisHandle>();
function handleOf(cfg: LimitCountConfig): RedisHandle {
  let h = handles.get(cfg);
  if (!h) {
    h = redisFor(cfg.redis ?? DEFAULT_REDIS);
    handles.set(cfg, h);
  }
  return h;
}

/** Batched mode: the budget this worker holds for one counter and one window. */
interface Lease {
  tokens: number;
  /** local time the window ends: the lease is void after it */
  until: number;
  remaining: number;
  fetching: Promise<void> | undefined;
  /** Redis said the window's budget is spent: reject locally until `until` */
  exhausted: boolean;
}
// Keys can come from clients (IP, header), so the leases are bounded (those not used lately go
// first). A lease pushed out loses its unspent tokens, which can only admit fewer requests in
// that window, never more.
const leases = new Lru<string, Lease>(100_000);

/** The counter's base name in Redis; the {hash tag} keeps its per-window keys in one Cluster slot. */
function counterName(key: string): string {
  return `meridian:lc:{${key}}`;
}

function batchOf(cfg: LimitCountConfig): number {
  return cfg.batch_size > 0 ? cfg.batch_size : Math.max(1, Math.floor(cfg.count / 100));
}

/**
 * Strict mode. Each key has at most one Redis call in flight per worker: requests for a key
 * that arrive meanwhile wait and go together in its next call (the script admits as many of
 * them as fit). Keys ready in the same event-loop turn go in one call (a multi-key script on
 * one Redis server; on a Cluster one call per key, which ioredis pipelines per node). Every
 * decision is still taken atomically in Redis against the shared count, so the accuracy is
 * that of one call per request, for far fewer round trips under load.
 */
interface Waiter {
  ctx: RequestContext;
  cfg: LimitCountConfig;
  key: string;
  /** the request's verdict, straight to the chain: one promise per waiting request */
  resolve(v: ShortCircuit | undefined): void;
}
interface KeyQueue {
  readonly id: string;
  /** the counter's base name in Redis */
  readonly base: string;
  readonly cfg: LimitCountConfig;
  waiting: Waiter[];
  inFlight: boolean;
  /** in its sender's ready list */
  ready: boolean;
}
/** Per Redis handle: the keys with waiters, and the ones to go in the next call. */
interface Sender {
  readonly h: RedisHandle;
  readonly queues: Map<string, KeyQueue>;
  ready: KeyQueue[];
  scheduled: boolean;
}
const senders = new Map<RedisHandle, Sender>();
/** requests of one key per call */
const MAX_BATCH = 256;
/** keys per call */
const MAX_KEYS = 128;

function strictVerdict(ctx: RequestContext, cfg: LimitCountConfig, h: RedisHandle, key: string): Promise<ShortCircuit | undefined> {
  let s = senders.get(h);
  if (!s) {
    s = { h, queues: new Map(), ready: [], scheduled: false };
    senders.set(h, s);
  }
  const id = `${cfg.algorithm}|${cfg.count}|${cfg.time_window}|${key}`;
  let q = s.queues.get(id);
  if (!q) {
    q = { id, base: counterName(key), cfg, waiting: [], inFlight: false, ready: false };
    s.queues.set(id, q);
  }
  const queue = q;
  const v = new Promise<ShortCircuit | undefined>((resolve) => queue.waiting.push({ ctx, cfg, key, resolve }));
  markReady(s, q);
  return v;
}

function markReady(s: Sender, q: KeyQueue): void {
  if (q.inFlight || q.ready || q.waiting.length === 0) return;
  q.ready = true;
  s.ready.push(q);
  // The check phase of this turn: every key made ready by this turn's I/O goes in one call.
  if (!s.scheduled) {
    s.scheduled = true;
    setImmediate(sendReady, s);
  }
}

interface Ask {
  q: KeyQueue;
  batch: Waiter[];
}

function sendReady(s: Sender): void {
  s.scheduled = false;
  while (s.ready.length > 0) {
    const asks: Ask[] = s.ready.splice(0, MAX_KEYS).map((q) => {
      q.ready = false;
      q.inFlight = true;
      return { q, batch: q.waiting.splice(0, MAX_BATCH) };
    });
    const h = s.h;
    decideInRedis(h, asks)
      .then((replies) => asks.forEach((a, i) => settleBatch(a.batch, replies[i] as Reply)))
      .catch((err: unknown) => {
        callFailed(h, err);
        // A waiter already answered ignores the second resolve.
        for (const a of asks) for (const w of a.batch) w.resolve(fallback(w.ctx, w.cfg, w.key));
      })
      .finally(() => {
        for (const { q } of asks) {
          q.inFlight = false;
          if (q.waiting.length > 0) markReady(s, q);
          else s.queues.delete(q.id);
        }
      });
  }
}

type Reply = [number, number, number, number];

function argsOf(a: Ask): number[] {
  return [a.q.cfg.count, a.q.cfg.time_window * 1000, a.batch.length];
}

async function decideInRedis(h: RedisHandle, asks: Ask[]): Promise<Reply[]> {
  const one = (a: Ask) => (a.q.cfg.algorithm === 'sliding' ? SLIDING : FIXED);
  if (asks.length === 1) {
    const a = asks[0] as Ask;
    const reply = (await h.script(one(a), [a.q.base], argsOf(a), true)) as Reply;
    redisCalls.inc({ plugin: 'limit-count', result: 'ok' });
    return [reply];
  }
  if (!h.single) {
    const replies = await Promise.all(asks.map((a) => h.script(one(a), [a.q.base], argsOf(a)) as Promise<Reply>));
    redisCalls.inc({ plugin: 'limit-count', result: 'ok' }, asks.length);
    return replies;
  }
  const flat = (await h.script(MULTI, asks.map((a) => a.q.base), asks.flatMap((a) => [a.q.cfg.algorithm === 'sliding' ? 1 : 0, ...argsOf(a)]), true)) as number[];
  redisCalls.inc({ plugin: 'limit-count', result: 'ok' });
  return asks.map((_, i) => flat.slice(i * 4, i * 4 + 4) as Reply);
}

/** Hands a call's admissions to its waiters in arrival order; the rest are refused. */
function settleBatch(batch: Waiter[], [grant, remaining, resetMs, retryMs]: Reply): void {
  batch.forEach((w, i) => w.resolve(verdict(w.ctx, w.cfg, i < grant ? { allowed: true, remaining: remaining + (grant - 1 - i), resetMs } : { allowed: false, remaining: 0, resetMs: retryMs })));
}

async function refill(h: RedisHandle, key: string, cfg: LimitCountConfig, lease: Lease): Promise<void> {
  // The deadline counts from when the call was sent, not when the reply came: Redis read its
  // clock in between, so the lease always ends before Redis' window does (never spent twice).
  const sentAt = Date.now();
  let reply: [number, number, number];
  try {
    reply = (await h.script(FIXED, [counterName(key)], [cfg.count, cfg.time_window * 1000, batchOf(cfg)])) as [number, number, number];
  } catch (err) {
    callFailed(h, err);
    throw err;
  }
  redisCalls.inc({ plugin: 'limit-count', result: 'ok' });
  const [grant, remaining, resetMs] = reply;
  const until = sentAt + resetMs;
  if (until > lease.until + 1) lease.tokens = 0; // a new window: what was left of the old lease is void
  lease.until = until;
  lease.remaining = remaining;
  lease.tokens += grant;
  lease.exhausted = grant <= 0;
}

/**
 * Batched mode: a decision from the lease when it has tokens or is known spent (no promise, the
 * common case), else the shared refill.
 */
function batchedRedis(h: RedisHandle, key: string, cfg: LimitCountConfig): Decision | Promise<Decision> {
  let lease = leases.get(key);
  if (!lease) {
    lease = { tokens: 0, until: 0, remaining: cfg.count, fetching: undefined, exhausted: false };
    leases.set(key, lease);
  }
  return fromLease(lease, Date.now()) ?? batchedRefill(h, key, cfg, lease);
}

/** The lease's answer when it has one without Redis; undefined when it must be refilled. */
function fromLease(lease: Lease, now: number): Decision | undefined {
  if (now >= lease.until) {
    lease.tokens = 0;
    lease.exhausted = false;
  }
  if (lease.tokens > 0) {
    lease.tokens--;
    return { allowed: true, remaining: lease.remaining + lease.tokens, resetMs: Math.max(0, lease.until - now) };
  }
  if (lease.exhausted && now < lease.until) return { allowed: false, remaining: 0, resetMs: lease.until - now };
  return undefined;
}

async function batchedRefill(h: RedisHandle, key: string, cfg: LimitCountConfig, lease: Lease): Promise<Decision> {
  // Waiters that lose the race for a fresh lease try again while the window has budget: each
  // refill either grants requests (the budget is finite) or marks the window spent.
  for (let round = 0; round < 64; round++) {
    // Concurrent requests that find the lease empty share one Redis call.
    if (!lease.fetching) {
      const l = lease;
      l.fetching = refill(h, key, cfg, l).finally(() => {
        l.fetching = undefined;
      });
    }
    await lease.fetching;
    const d = fromLease(lease, Date.now());
    if (d) return d;
  }
  return { allowed: false, remaining: 0, resetMs: Math.max(1, lease.until - Date.now()) };
}

function setRateHeaders(out: Record<string, string | null>, cfg: LimitCountConfig, d: Decision): void {
  out['RateLimit-Limit'] = String(cfg.count);
  out['RateLimit-Remaining'] = String(d.remaining);
  out['RateLimit-Reset'] = String(Math.max(0, Math.ceil(d.resetMs / 1000)));
}

type Verdict = ShortCircuit | undefined | Promise<ShortCircuit | undefined>;

/** The request's fate from a decision: a 429, or on its way with the RateLimit headers. */
function verdict(ctx: RequestContext, cfg: LimitCountConfig, d: Decision): ShortCircuit | undefined {
  if (!d.allowed) {
    limitRejected.inc({ plugin: 'limit-count', route: ctx.route.id });
    const headers: Record<string, string> = { 'Retry-After': String(Math.max(1, Math.ceil(d.resetMs / 1000))) };
    if (cfg.show_headers) setRateHeaders(headers, cfg, d);
    return deny('MERIDIAN_ERR_PLUGIN_RATE_LIMITED', {}, headers);
  }
  if (cfg.show_headers) setRateHeaders(ctx.responseHeaders, cfg, d);
  return undefined;
}

/** This worker's own count: the local policy, and the fallback. */
function localVerdict(ctx: RequestContext, cfg: LimitCountConfig, key: string): ShortCircuit | undefined {
  return verdict(ctx, cfg, local.take(key, cfg.count, cfg.time_window * 1000, cfg.algorithm === 'sliding'));
}

/** Same request, no error to the client: this worker counts alone until Redis is back. */
function fallback(ctx: RequestContext, cfg: LimitCountConfig, key: string): ShortCircuit | undefined {
  limitFallback.inc({ route: ctx.route.id });
  return localVerdict(ctx, cfg, key);
}

function viaRedis(ctx: RequestContext, cfg: LimitCountConfig, h: RedisHandle, key: string): Verdict {
  if (cfg.mode !== 'batched' || cfg.algorithm === 'sliding') return strictVerdict(ctx, cfg, h, key);
  const d = batchedRedis(h, key, cfg);
  if (!(d instanceof Promise)) return verdict(ctx, cfg, d);
  return d.then(
    (decision) => verdict(ctx, cfg, decision),
    () => fallback(ctx, cfg, key),
  );
}

/** A call failed: Redis counts as down for retry_after_ms (fallback meanwhile); one error per call, whatever the requests sharing it. */
function callFailed(h: RedisHandle, err: unknown): void {
  h.noteDown(err);
  redisCalls.inc({ plugin: 'limit-count', result: 'error' });
}

/**
 * Synchronous when the answer is at hand (local policy, a batched lease, Redis known down), so
 * the chain stays free of promises; a Redis decision is one promise hop.
 */
function access(ctx: RequestContext, cfg: LimitCountConfig): Verdict {
  const key = limitKey(ctx, cfg);
  if (cfg.policy === 'local') return localVerdict(ctx, cfg, key);
  const h = handleOf(cfg);
  if (h.usable()) return viaRedis(ctx, cfg, h, key);
  if (!h.firstConnecting()) return fallback(ctx, cfg, key);
  return h.whenUsable().then((ok) => (ok ? viaRedis(ctx, cfg, h, key) : fallback(ctx, cfg, key)));
}

/**
 * limit-count: N requests per window per key, shared by every gateway through Redis (atomic
 * Lua), with a same-request local fallback when Redis is unavailable.
 */
export const limitCount: Plugin<LimitCountConfig> = {
  name: 'limit-count',
  version: '1.0.0',
  priority: 1002,
  schema: LimitCountConfig,
  check: (cfg) => {
    const k = keyCheck(cfg);
    if (k) return k;
    if (cfg.mode === 'batched' && cfg.algorithm === 'sliding') return { field: 'mode', reason: '"batched" works with algorithm "fixed" only' };
    return undefined;
  },
  phases: { access },
  init: (services) => {
    setServices(services);
    // Connect to the region's Redis now rather than on the first limited request.
    if (services.redisUrl) redisFor(DEFAULT_REDIS);
  },
  close: async () => {
    local.clear();
    leases.clear();
    senders.clear();
    await closeRedis();
  },
};
