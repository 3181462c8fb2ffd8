import type { ConsulClient, ServiceInstance } from '../../src/core/consul-client.js';
import type { Logger } from '../../src/core/logger.js';

export interface ServiceChange {
  service: string;
  datacenter: string;
  /**
   * Instances added, removed or whose health changed, as address:port: the identity gateways
   * know them by (DNS SRV carries no service id).
   */
  changed: string[];
  /** When the blocking query returned with the change. */
  seenAt: number;
}

export interface WatchOptions {
  waitS: number;
  minIntervalMs: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

interface Seen {
  fp: string;
  key: string;
}

function fingerprint(list: ServiceInstance[]): Map<string, Seen> {
  return new Map(list.map((i) => [i.id, { fp: `${i.status}|${i.address}|${i.port}|${i.tags.join(',')}`, key: `${i.address}:${i.port}` }]));
}

/**
 * A blocking-query watch on one service's health in one datacenter. Follows Consul's rules
 * for the index: it must grow, a smaller one means the index was reset (snapshot restore,
 * leader change) and the watch starts over at 0; a value below 1 is treated as 1 so the next
 * call still blocks. Calls are spaced at least minIntervalMs apart: a flapping service cannot
 * turn the watch into a busy loop (the rate limit). Errors back off up to 10 s.
 */
export class ServiceWatch {
  private stopped = false;
  private readonly abort = new AbortController();
  private last: Map<string, Seen> | undefined;
  private index = 0;

  constructor(
    private readonly client: ConsulClient,
    readonly datacenter: string,
    readonly service: string,
    private readonly opts: WatchOptions,
    private readonly onChange: (c: ServiceChange) => void,
    private readonly onIndexReset: () => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    void this.loop();
  }

  private async loop(): Promise<void> {
    let errors = 0;
    while (!this.stopped) {
      const t0 = Date.now();
      try {
        const res = await this.client.healthService(this.service, {
          dc: this.datacenter,
          signal: this.abort.signal,
          ...(this.index > 0 ? { index: String(this.index), wait: `${this.opts.waitS}s` } : {}),
        });
        errors = 0;
        if (this.stopped) return;
        const step = nextIndex(this.index, res.index);
        if (step.reset) this.onIndexReset();
        this.index = step.index;
        const now = fingerprint(res.value);
        if (this.last) {
          const changed = diff(this.last, now);
          if (changed.length > 0) this.onChange({ service: this.service, datacenter: this.datacenter, changed, seenAt: performance.now() });
        }
        this.last = now;
      } catch (err) {
        if (this.stopped) return;
        errors++;
        if (errors === 1) this.log.warn({ service: this.service, datacenter: this.datacenter, err: (err as Error).message }, 'consul watch failed; backing off');
        await sleep(Math.min(10_000, 250 * 2 ** Math.min(errors, 6)));
        continue;
      }
      const elapsed = Date.now() - t0;
      if (elapsed < this.opts.minIntervalMs) await sleep(this.opts.minIntervalMs - elapsed);
    }
  }

  stop(): void {
    this.stopped = true;
    // Ends the blocking call in flight instead of leaving it open for up to `wait`.
    this.abort.abort();
  }
}

/**
 * Consul's rules for a blocking index: a smaller (or unreadable) one means it was reset, so
 * start over at 0 (a plain read, then block again); below 1 is treated as 1 so the next call
 * still blocks instead of spinning.
 */
export function nextIndex(previous: number, header: string): { index: number; reset: boolean } {
  const got = Number(header);
  if (!Number.isFinite(got) || got < previous) return { index: 0, reset: true };
  return { index: got < 1 ? 1 : got, reset: false };
}

function diff(a: Map<string, Seen>, b: Map<string, Seen>): string[] {
  const out = new Set<string>();
  for (const [id, seen] of a) {
    const now = b.get(id);
    if (now?.fp !== seen.fp) {
      out.add(seen.key);
      if (now) out.add(now.key);
    }
  }
  for (const [id, seen] of b) if (!a.has(id)) out.add(seen.key);
  return [...out].sort();
}
