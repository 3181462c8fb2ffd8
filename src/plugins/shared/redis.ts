import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Redis, Cluster, Command } from 'ioredis';
import { restoreFastStringPrototype } from '../../core/fast-prototypes.js';
import { Strict } from '../../core/model/index.js';
import { getServices } from './services.js';

// ioredis subclasses String, which leaves String.prototype slow for all optimized code.
restoreFastStringPrototype();

/**
 * Where a plugin's Redis is. Default: the region's Redis the gateway was configured with.
 * Cluster and Sentinel go through ioredis' own options (cluster startup nodes, sentinels + name).
 */
export const RedisSettings = Strict({
  url: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'redis://host:port/db (default: the region Redis of the gateway)' })),
  cluster: Type.Optional(Type.Array(Type.String({ pattern: '^[^:]+:[0-9]{1,5}$' }), { minItems: 1, description: 'Redis Cluster startup nodes host:port' })),
  sentinels: Type.Optional(Type.Array(Type.String({ pattern: '^[^:]+:[0-9]{1,5}$' }), { minItems: 1, description: 'Sentinel addresses host:port (with sentinel_name)' })),
  sentinel_name: Type.Optional(Type.String({ minLength: 1, description: 'Sentinel master name' })),
  password: Type.Optional(Type.String()),
  command_timeout_ms: Type.Integer({ minimum: 1, default: 100, description: 'a command slower than this counts as Redis unavailable (ms, default 100)' }),
  retry_after_ms: Type.Integer({ minimum: 0, default: 1_000, description: 'after a failure, use the fallback this long before trying Redis again (ms, default 1000)' }),
}, { description: 'Redis connection (default: the region Redis)' });
export type RedisSettings = Static<typeof RedisSettings>;

export type RedisClient = Redis | Cluster;

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

/**
 * One connection per distinct setting per worker. Commands never queue while disconnected
 * (enableOfflineQueue false) and time out fast, so a dead Redis costs a request nothing but
 * the switch to the caller's fallback; ioredis keeps reconnecting in the background.
 */
class RedisHandle {
  readonly client: RedisClient;
  private downUntil = 0;
  private loggedDown = false;

  constructor(private readonly settings: RedisSettings, url: string | undefined) {
    const common = {
      enableOfflineQueue: false,
      // Commands issued in the same tick (concurrent requests) go out in one write: far fewer
      // syscalls per request at load, still one command (one round trip) each.
      enableAutoPipelining: true,
      maxRetriesPerRequest: 0,
      commandTimeout: settings.command_timeout_ms,
      lazyConnect: false,
      ...(settings.password ? { password: settings.password } : {}),
    };
    if (settings.cluster) {
      this.client = new Cluster(settings.cluster.map(hostPort), {
        enableOfflineQueue: false,
        enableAutoPipelining: true,
        clusterRetryStrategy: (times: number) => Math.min(100 * times, 2_000),
        redisOptions: { maxRetriesPerRequest: 0, commandTimeout: settings.command_timeout_ms, ...(settings.password ? { password: settings.password } : {}) },
      });
    } else if (settings.sentinels) {
      this.client = new Redis({ ...common, sentinels: settings.sentinels.map(hostPort), name: settings.sentinel_name ?? 'mymaster', retryStrategy: (times: number) => Math.min(100 * times, 2_000) });
    } else {
      this.client = new Redis(url ?? 'redis://127.0.0.1:6379', { ...common, retryStrategy: (times: number) => Math.min(100 * times, 2_000) });
    }
    // Without a listener ioredis prints every reconnect error; one log line per outage is enough.
    this.client.on('error', (err: Error) => this.noteDown(err));
    this.client.on('ready', () => {
      this.everReady = true;
      if (this.loggedDown) getServices().log.info({ redis: this.describe() }, 'plugins: Redis is back, shared counting again');
      this.loggedDown = false;
      this.downUntil = 0;
    });
  }

  describe(): string {
    return this.settings.cluster ? `cluster ${this.settings.cluster.join(',')}` : this.settings.sentinels ? `sentinel ${this.settings.sentinel_name ?? ''}` : (this.settings.url ?? getServices().redisUrl ?? '');
  }

  /** Ready to take a command now (connected, and no recent failure). */
  usable(): boolean {
    return this.client.status === 'ready' && Date.now() >= this.downUntil;
  }

  private everReady = false;

  /** The very first connection is still being made (whenUsable() would wait for it). */
  firstConnecting(): boolean {
    return !this.everReady && this.client.status !== 'ready' && this.client.status !== 'end';
  }
  private firstConnect: Promise<boolean> | undefined;

  /**
   * usable(), except that while the very first connection is being made the caller waits for it
   * (at most FIRST_CONNECT_MS, once per worker): the first requests of a worker are not counted
   * locally just because the connection was still being set up.
   */
  async whenUsable(): Promise<boolean> {
    if (this.usable()) return true;
    if (!this.firstConnecting()) return false;
    this.firstConnect ??= new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), Math.max(FIRST_CONNECT_MS, this.settings.command_timeout_ms));
      this.client.once('ready', onReady);
    });
    const ok = await this.firstConnect;
    return ok && this.usable();
  }

  noteDown(err: unknown): void {
    this.downUntil = Date.now() + this.settings.retry_after_ms;
    if (!this.loggedDown) {
      this.loggedDown = true;
      getServices().log.warn({ redis: this.describe(), err: err instanceof Error ? err.message : String(err) }, 'plugins: Redis unavailable, using local fallback');
    }
  }

  /** One Redis server behind this handle (not a Cluster): a script may touch any keys. */
  get single(): boolean {
    return this.client instanceof Redis;
  }

  /**
   * EVALSHA, loading the script on NOSCRIPT: one round trip in the steady state. `now`: written
   * at once with sendCommand rather than through ioredis' auto-pipelining (which costs a
   * pipeline object per tick), for callers that gather their own calls; a Cluster still
   * pipelines per node.
   */
  async script(lua: LuaScript, keys: string[], args: Array<string | number>, now = false): Promise<unknown> {
    const client = this.client;
    const send = (command: 'evalsha' | 'eval', body: string): Promise<unknown> => {
      if (now && client instanceof Redis) {
        const c = new Command(command, [body, keys.length, ...keys, ...args], { replyEncoding: 'utf8' });
        client.sendCommand(c);
        return c.promise;
      }
      return command === 'evalsha' ? client.evalsha(body, keys.length, ...keys, ...args) : client.eval(body, keys.length, ...keys, ...args);
    };
    try {
      return await send('evalsha', lua.sha);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return send('eval', lua.source);
      throw err;
    }
  }
}

const FIRST_CONNECT_MS = 1_000;

export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

export function lua(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const handles = new Map<string, RedisHandle>();

/** The worker's connection for these settings (created on first use). */
export function redisFor(settings: RedisSettings): RedisHandle {
  const url = settings.url ?? getServices().redisUrl;
  const key = JSON.stringify([url, settings.cluster, settings.sentinels, settings.sentinel_name, settings.command_timeout_ms, settings.retry_after_ms]);
  let h = handles.get(key);
  if (!h) {
    h = new RedisHandle(settings, url);
    handles.set(key, h);
  }
  return h;
}

export type { RedisHandle };

/** Closes every plugin connection (worker shutdown, tests). */
export async function closeRedis(): Promise<void> {
  const all = [...handles.values()];
  handles.clear();
  await Promise.all(all.map((h) => h.client.quit().catch(() => h.client.disconnect())));
}

export const DEFAULT_REDIS: RedisSettings = { command_timeout_ms: 100, retry_after_ms: 1_000 };
