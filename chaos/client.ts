import dns2 from 'dns2';
import { request, Agent } from 'undici';

/** One client request's outcome, as the load's timeline records it. */
export interface Sample {
  /** ms since the load started. */
  at: number;
  ok: boolean;
  latencyMs: number;
  /** The first attempt failed on the connection and the retry was made. */
  retried: boolean;
  status: number;
  /** Gateway address that served it (or failed). */
  node: string;
  error?: string;
}

interface Cached {
  addresses: string[];
  expires: number;
}

/**
 * A client like a real SDK: resolves the name through Meridian's DNS (its resolvers in order,
 * with an EDNS client subnet so steering sees where it is), honours the answer's TTL, and
 * retries once, on another address, when a connection fails.
 */
export class SdkClient {
  private cache: Cached | undefined;
  private resolving: Promise<Cached> | undefined;
  private readonly agent = new Agent({ connect: { timeout: 1_000 }, keepAliveTimeout: 4_000, connections: 64 });

  constructor(
    private readonly options: {
      name: string;
      resolvers: Array<{ host: string; port: number }>;
      clientSubnet: string;
      port: number;
      path: string;
      headers: Record<string, string>;
      timeoutMs?: number;
    },
  ) {}

  private async resolveOnce(): Promise<Cached> {
    let lastError: unknown;
    for (const r of this.options.resolvers) {
      try {
        const query = dns2.UDPClient({ dns: r.host, port: r.port, timeout: 1_000 } as Parameters<typeof dns2.UDPClient>[0]);
        const res = await query(this.options.name, 'A', 1, { clientIp: this.options.clientSubnet, recursive: false });
        const answers = res.answers.filter((a) => (a as { type?: number }).type === 1) as Array<{ address: string; ttl: number }>;
        if (answers.length === 0) throw new Error(`no A records for ${this.options.name} from ${r.host}`);
        const ttl = Math.min(...answers.map((a) => a.ttl));
        return { addresses: answers.map((a) => a.address), expires: Date.now() + ttl * 1000 };
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError instanceof Error ? lastError : new Error('no resolver answered');
  }

  /** Cached addresses while the TTL lasts; one resolution in flight at a time. */
  async addresses(force = false): Promise<string[]> {
    if (!force && this.cache && this.cache.expires > Date.now()) return this.cache.addresses;
    this.resolving ??= this.resolveOnce().finally(() => {
      this.resolving = undefined;
    });
    try {
      this.cache = await this.resolving;
    } catch (err) {
      if (!this.cache) throw err;
      // Resolver trouble: keep using what we had, like a stub resolver serving stale.
    }
    return this.cache.addresses;
  }

  private async attempt(address: string): Promise<number> {
    const res = await request(`http://${address}:${this.options.port}${this.options.path}`, {
      headers: { host: this.options.name, ...this.options.headers },
      dispatcher: this.agent,
      headersTimeout: this.options.timeoutMs ?? 2_000,
      bodyTimeout: this.options.timeoutMs ?? 2_000,
    });
    await res.body.dump();
    return res.statusCode;
  }

  /** Addresses that failed a connection lately, skipped until then (like a happy-eyeballs cache). */
  private readonly badUntil = new Map<string, number>();

  private usable(addresses: string[]): string[] {
    const now = Date.now();
    const good = addresses.filter((a) => (this.badUntil.get(a) ?? 0) <= now);
    return good.length > 0 ? good : addresses;
  }

  /**
   * Addresses are tried in the answer's order (the DNS server rotates its primary records and
   * puts backup records of another region last). A connection failure marks the address bad
   * for one TTL and the request is retried once, on the last other address of the answer: the
   * one least likely to share the failure.
   */
  async call(start: number): Promise<Sample> {
    const t0 = performance.now();
    let addresses: string[];
    try {
      addresses = this.usable(await this.addresses());
    } catch (err) {
      return { at: Date.now() - start, ok: false, latencyMs: performance.now() - t0, retried: false, status: 0, node: '-', error: (err as Error).message };
    }
    const first = addresses[0] ?? '';
    try {
      const status = await this.attempt(first);
      return { at: Date.now() - start, ok: status < 500, latencyMs: performance.now() - t0, retried: false, status, node: first };
    } catch {
      this.badUntil.set(first, Date.now() + 5_000);
      const fresh = this.usable(await this.addresses(true).catch(() => addresses));
      const others = fresh.filter((a) => a !== first);
      const second = others[others.length - 1] ?? first;
      try {
        const status = await this.attempt(second);
        return { at: Date.now() - start, ok: status < 500, latencyMs: performance.now() - t0, retried: true, status, node: second };
      } catch (err) {
        this.badUntil.set(second, Date.now() + 5_000);
        return { at: Date.now() - start, ok: false, latencyMs: performance.now() - t0, retried: true, status: 0, node: second, error: (err as Error).message };
      }
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** Steady load: `rate` requests/s spread over `concurrency` loops, until stop() is called. */
export class SteadyLoad {
  readonly samples: Sample[] = [];
  readonly start = Date.now();
  private running = true;
  private readonly loops: Array<Promise<void>>;

  constructor(client: SdkClient, rate: number, concurrency = 16) {
    const interval = (1000 * concurrency) / rate;
    this.loops = Array.from({ length: concurrency }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (interval * i) / concurrency));
      while (this.running) {
        const t = Date.now();
        this.samples.push(await client.call(this.start));
        const wait = interval - (Date.now() - t);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    });
  }

  now(): number {
    return Date.now() - this.start;
  }

  async stop(): Promise<Sample[]> {
    this.running = false;
    await Promise.all(this.loops);
    return this.samples;
  }
}
