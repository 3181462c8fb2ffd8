import { EventEmitter } from 'node:events';
import { Etcd3, type IKeyValue, type Lease, type Watcher } from 'etcd3';
import { MeridianError } from './errors/index.js';
import type { Lifecycle } from './lifecycle.js';

export interface StoreOptions {
  endpoints: string[];
  /** Key prefix, default `/meridian`. */
  prefix?: string;
  /** Per-call deadline in ms (default 5000). */
  timeoutMs?: number;
}

export interface Entry<T = unknown> {
  key: string;
  value: T;
  modRevision: number;
  createRevision: number;
}

export interface Snapshot<T = unknown> {
  /** The store revision the snapshot was read at: watch from revision + 1 to miss nothing. */
  revision: number;
  entries: Map<string, Entry<T>>;
}

export type WatchEvent<T = unknown> =
  | { type: 'put'; key: string; value: T; modRevision: number }
  | { type: 'delete'; key: string; modRevision: number };

export interface StoreWatch {
  /** Resolves when the watch is gone. */
  stop(): Promise<void>;
}

export interface StoreLease extends EventEmitter {
  readonly id: string;
  put(key: string, value: unknown): Promise<void>;
  /** Ends the lease now: its keys disappear. */
  revoke(): Promise<void>;
  /** Stops keep-alives without revoking: its keys expire after the TTL. */
  release(): void;
}

function decode<T>(key: string, kv: IKeyValue): Entry<T> {
  const raw = kv.value.toString('utf8');
  let value: T;
  try {
    value = JSON.parse(raw) as T;
  } catch (err) {
    throw new MeridianError('MERIDIAN_ERR_STORE_DECODE', { key, reason: (err as Error).message });
  }
  return { key, value, modRevision: Number(kv.mod_revision), createRevision: Number(kv.create_revision) };
}

function unavailable(err: unknown): MeridianError {
  if (err instanceof MeridianError) return err;
  return new MeridianError('MERIDIAN_ERR_STORE_UNAVAILABLE', { reason: (err as Error).message }, { cause: err });
}

/**
 * JSON values in etcd under one prefix, with revisions, compare-and-set, prefix snapshots,
 * watches that resume from a revision, and leases. Keys given to methods are relative to the
 * prefix (`routes/r1`); keys handed back are relative too.
 */
export class EtcdStore implements Lifecycle {
  readonly prefix: string;
  readonly client: Etcd3;
  private readonly watchers = new Set<Watcher>();

  constructor(options: StoreOptions) {
    this.prefix = (options.prefix ?? '/meridian').replace(/\/+$/, '');
    this.client = new Etcd3({
      hosts: options.endpoints,
      dialTimeout: options.timeoutMs ?? 5_000,
      defaultCallOptions: () => ({ deadline: new Date(Date.now() + (options.timeoutMs ?? 5_000)) }),
    });
  }

  full(key: string): string {
    return `${this.prefix}/${key}`;
  }

  relative(fullKey: string): string {
    return fullKey.startsWith(`${this.prefix}/`) ? fullKey.slice(this.prefix.length + 1) : fullKey;
  }

  async start(): Promise<void> {
    await this.revision();
  }

  /** Current store revision (also a cheap liveness check). */
  async revision(): Promise<number> {
    try {
      const res = await this.client.get(this.full('__revision_probe__')).exec();
      return Number(res.header.revision);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async get<T = unknown>(key: string): Promise<Entry<T> | undefined> {
    try {
      const res = await this.client.get(this.full(key)).exec();
      const kv = res.kvs[0];
      return kv ? decode<T>(key, kv) : undefined;
    } catch (err) {
      throw unavailable(err);
    }
  }

  /**
   * Writes JSON. With `expectRevision`, only if the key's mod revision is that (0: the key must
   * not exist), else MERIDIAN_ERR_STORE_CONFLICT. Returns the revision of the write.
   */
  async put(key: string, value: unknown, options: { expectRevision?: number; lease?: Lease } = {}): Promise<number> {
    const full = this.full(key);
    const body = JSON.stringify(value);
    try {
      if (options.expectRevision === undefined) {
        const op = options.lease ? options.lease.put(full).value(body) : this.client.put(full).value(body);
        const res = await op.exec();
        return Number(res.header.revision);
      }
      const put = options.lease ? options.lease.put(full).value(body) : this.client.put(full).value(body);
      const res = await this.client.if(full, 'Mod', '==', options.expectRevision).then(put).else(this.client.get(full)).commit();
      if (!res.succeeded) {
        const actual = res.responses[0]?.response_range?.kvs[0]?.mod_revision ?? '0';
        throw new MeridianError('MERIDIAN_ERR_STORE_CONFLICT', { key, expected: options.expectRevision, actual: String(actual) });
      }
      return Number(res.header.revision);
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** Deletes a key; with `expectRevision`, only at that mod revision. True when a key was removed. */
  async delete(key: string, options: { expectRevision?: number } = {}): Promise<boolean> {
    const full = this.full(key);
    try {
      if (options.expectRevision === undefined) {
        const res = await this.client.delete().key(full).exec();
        return Number(res.deleted) > 0;
      }
      const res = await this.client.if(full, 'Mod', '==', options.expectRevision).then(this.client.delete().key(full)).else(this.client.get(full)).commit();
      if (!res.succeeded) {
        const actual = res.responses[0]?.response_range?.kvs[0]?.mod_revision ?? '0';
        throw new MeridianError('MERIDIAN_ERR_STORE_CONFLICT', { key, expected: options.expectRevision, actual: String(actual) });
      }
      return true;
    } catch (err) {
      throw unavailable(err);
    }
  }

  async deletePrefix(prefix: string): Promise<void> {
    try {
      await this.client.delete().prefix(this.full(prefix)).exec();
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** Every key under `prefix` at one revision. */
  async snapshot<T = unknown>(prefix: string): Promise<Snapshot<T>> {
    try {
      const res = await this.client.getAll().prefix(this.full(prefix)).exec();
      const entries = new Map<string, Entry<T>>();
      for (const kv of res.kvs) {
        const key = this.relative(kv.key.toString('utf8'));
        entries.set(key, decode<T>(key, kv));
      }
      return { revision: Number(res.header.revision), entries };
    } catch (err) {
      throw unavailable(err);
    }
  }

  /**
   * Watches `prefix` from `fromRevision` (inclusive). The etcd3 watcher reconnects by itself
   * and resumes after the last revision it saw, so a reconnect loses no event.
   * Undecodable values are reported to onError and skipped.
   */
  async watch<T = unknown>(
    prefix: string,
    fromRevision: number,
    onEvents: (events: WatchEvent<T>[]) => void,
    onError: (err: Error) => void = () => undefined,
  ): Promise<StoreWatch> {
    const builder = this.client.watch().prefix(this.full(prefix));
    if (fromRevision > 0) builder.startRevision(String(fromRevision));
    const watcher = await builder.create();
    this.watchers.add(watcher);
    watcher.on('data', (res) => {
      const events: WatchEvent<T>[] = [];
      for (const ev of res.events) {
        const key = this.relative(ev.kv.key.toString('utf8'));
        const modRevision = Number(ev.kv.mod_revision);
        if (ev.type === 'Delete') events.push({ type: 'delete', key, modRevision });
        else {
          try {
            events.push({ type: 'put', key, value: decode<T>(key, ev.kv).value, modRevision });
          } catch (err) {
            onError(err as Error);
          }
        }
      }
      if (events.length > 0) onEvents(events);
    });
    watcher.on('error', (err: Error) => onError(err));
    return {
      stop: async () => {
        this.watchers.delete(watcher);
        await watcher.cancel();
      },
    };
  }

  /** A lease with keep-alives; emits 'lost' if etcd lets it expire (keys gone). */
  async lease(ttlSeconds: number): Promise<StoreLease & { raw: Lease }> {
    const raw = this.client.lease(ttlSeconds, { autoKeepAlive: true });
    let id: string;
    try {
      id = await raw.grant();
    } catch (err) {
      throw unavailable(err);
    }
    const emitter = new EventEmitter();
    raw.on('lost', (err: Error) => emitter.emit('lost', err));
    return Object.assign(emitter, {
      raw,
      id,
      put: async (key: string, value: unknown) => {
        await this.put(key, value, { lease: raw });
      },
      revoke: async () => {
        try {
          await raw.revoke();
        } catch (err) {
          throw unavailable(err);
        }
      },
      release: () => raw.release(),
    });
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) await w.cancel().catch(() => undefined);
    this.watchers.clear();
    this.client.close();
  }
}
