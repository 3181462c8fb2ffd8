import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { MeridianError } from '../core/errors/index.js';
import type { HmacAuthConfig } from './hmac-auth.js';
import { coversHeader, signedHeaders } from './shared/auth.js';
import { header } from './shared/headers.js';
import { Lru } from './shared/lru.js';
import { redisCalls } from './shared/metrics.js';
import { DEFAULT_REDIS, RedisSettings, closeRedis, redisFor, type RedisHandle } from './shared/redis.js';
import { deny } from './shared/respond.js';
import { setServices } from './shared/services.js';

export const AntiReplayConfig = Strict({
  nonce_header: Type.String({ minLength: 1, default: 'X-Nonce', description: 'header with a one-time random value (default X-Nonce)' }),
  timestamp_header: Type.String({ minLength: 1, default: 'X-Timestamp', description: 'header with the request time, Unix seconds or ms (default X-Timestamp)' }),
  window_s: Type.Integer({ minimum: 1, default: 300, description: 'a request older or newer than this is refused, seconds (default 300)' }),
  on_redis_error: Type.Union([Type.Literal('local'), Type.Literal('deny'), Type.Literal('allow')], {
    default: 'local',
    description: 'Redis unavailable: remember nonces in this worker (local), refuse (deny, 503) or let through (allow) (default local)',
  }),
  redis: Type.Optional(RedisSettings),
});
export type AntiReplayConfig = Static<typeof AntiReplayConfig>;

const NONCE = /^[A-Za-z0-9_-]{8,128}$/;
const localNonces = new Lru<string, number>(200_000);
const handles = new WeakMap<AntiReplayConfig, RedisHandle>();

/** SET NX EX: the first request with a nonce stores it; any later one finds it there. */
async function firstUse(key: string, cfg: AntiReplayConfig): Promise<boolean | 'error'> {
  let h = handles.get(cfg);
  if (!h) {
    h = redisFor(cfg.redis ?? DEFAULT_REDIS);
    handles.set(cfg, h);
  }
  if (!(await h.whenUsable())) return 'error';
  try {
    // Remembered for two windows: a timestamp is accepted from now-window to now+window.
    const r = await h.client.set(key, '1', 'EX', cfg.window_s * 2, 'NX');
    redisCalls.inc({ plugin: 'anti-replay', result: 'ok' });
    return r === 'OK';
  } catch (err) {
    h.noteDown(err);
    redisCalls.inc({ plugin: 'anti-replay', result: 'error' });
    return 'error';
  }
}

function firstUseLocal(key: string, windowS: number): boolean {
  const now = Date.now();
  const seen = localNonces.get(key);
  if (seen !== undefined && seen > now) return false;
  localNonces.set(key, now + windowS * 2000);
  return true;
}

/**
 * A signature that does not cover the nonce and the timestamp can be replayed with fresh ones:
 * beside hmac-auth, both headers must be among those it enforces (config time, in one chain).
 */
function checkChain(cfg: AntiReplayConfig, chain: ReadonlyMap<string, unknown>, where: string): MeridianError | undefined {
  const hmac = chain.get('hmac-auth') as HmacAuthConfig | undefined;
  if (!hmac) return undefined;
  const enforced = hmac.enforce_headers.map((h) => h.toLowerCase());
  for (const h of [cfg.nonce_header, cfg.timestamp_header]) {
    if (!coversHeader(enforced, h)) return new MeridianError('MERIDIAN_ERR_PLUGIN_REPLAY_HEADER_NOT_SIGNED', { where, header: h.toLowerCase() });
  }
  return undefined;
}

async function access(ctx: RequestContext, cfg: AntiReplayConfig): Promise<ShortCircuit | undefined> {
  // Request time, whatever layers the two plugins came from (a consumer's, global rules).
  const signed = signedHeaders(ctx);
  if (signed) {
    for (const h of [cfg.nonce_header, cfg.timestamp_header]) {
      if (!coversHeader(signed, h)) return deny('MERIDIAN_ERR_PLUGIN_REPLAY_UNSIGNED', { header: h });
    }
  }
  const nonce = header(ctx.req, cfg.nonce_header);
  const ts = Number(header(ctx.req, cfg.timestamp_header));
  const tsMs = ts > 1e12 ? ts : ts * 1000;
  if (!nonce || !NONCE.test(nonce) || !Number.isFinite(ts) || Math.abs(Date.now() - tsMs) > cfg.window_s * 1000) return deny('MERIDIAN_ERR_PLUGIN_REPLAYED');
  // Nonces are per caller: a consumer when authenticated, else the client address.
  const key = `meridian:nonce:{${ctx.route.id}}:${ctx.consumer ? `c:${ctx.consumer.username}` : `ip:${ctx.clientIp}`}:${nonce}`;
  let fresh = await firstUse(key, cfg);
  if (fresh === 'error') {
    if (cfg.on_redis_error === 'deny') return deny('MERIDIAN_ERR_PLUGIN_UNAVAILABLE');
    fresh = cfg.on_redis_error === 'allow' ? true : firstUseLocal(key, cfg.window_s);
  }
  return fresh ? undefined : deny('MERIDIAN_ERR_PLUGIN_REPLAYED');
}

/** anti-replay: nonce + timestamp window; nonces kept in Redis (SET NX EX), shared by every gateway. */
export const antiReplay: Plugin<AntiReplayConfig> = {
  name: 'anti-replay',
  version: '1.0.0',
  priority: 2400,
  schema: AntiReplayConfig,
  phases: { access },
  checkChain,
  init: (services) => setServices(services),
  close: async () => {
    localNonces.clear();
    await closeRedis();
  },
};
