import type { NodeRegistration } from '../../src/core/keys.js';
import type { Logger } from '../../src/core/logger.js';
import type { Lifecycle } from '../../src/core/lifecycle.js';
import type { Region } from '../../src/core/model/index.js';
import type { NodeDirectory } from '../regions/nodes.js';
import { parsePromText } from './prom-text.js';
import { METRICS_BODY_MAX, fetchNodeMetrics } from './fetch-metrics.js';
import { TrafficWindow, WANTED, type NodeScrape, type TrafficRow } from './window.js';

export interface TrafficSettings {
  /** Time between two scrape rounds. */
  intervalMs: number;
  /** Deadline of one node's scrape. */
  nodeTimeoutMs: number;
  /** Scraping stops this long after the last GET /v1/traffic. */
  idleMs: number;
  /** Nodes scraped at once. */
  concurrency: number;
  /** Largest /metrics body read from a node. */
  maxBodyBytes: number;
  windowMs: number;
  maxRoutes: number;
}

export const TRAFFIC_DEFAULTS = { concurrency: 8, maxBodyBytes: METRICS_BODY_MAX, windowMs: 15 * 60_000, maxRoutes: 200 } as const;

export interface NodeFailure {
  region: string;
  node: string;
  error: string;
}

/** GET /v1/traffic. */
export interface TrafficReport {
  /** Scraping now (it starts with the first request after an idle spell). */
  scraping: boolean;
  interval_ms: number;
  window_ms: number;
  /** At least two rounds: rates exist. */
  ready: boolean;
  /** Unix ms of each sample, oldest first. */
  times: number[];
  regions: TrafficRow[];
  routes: TrafficRow[];
  nodes: { scraped: number; failed: NodeFailure[] };
}

/**
 * Scrapes every registered gateway node's /metrics (admin listener) each interval, on demand:
 * the first GET /v1/traffic starts it, and it stops (dropping its window) once nobody asked for
 * `idleMs`. A /metrics of thousands of routes is megabytes of text per node, so an unwatched
 * controller scrapes nothing. Each round reads every region's node list, fetches at most
 * `concurrency` nodes at once, each within `nodeTimeoutMs` and `maxBodyBytes`.
 */
export class TrafficScraper implements Lifecycle {
  private readonly window: TrafficWindow;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private round: Promise<void> | undefined;
  private lastAsked = 0;
  private running = false;
  private stopped = true;
  private failed: NodeFailure[] = [];
  private scraped = 0;

  constructor(
    private readonly deps: { regions: () => Region[]; directory: NodeDirectory; log: Logger },
    private readonly s: TrafficSettings,
  ) {
    this.window = new TrafficWindow({ windowMs: s.windowMs, intervalMs: s.intervalMs, maxRoutes: s.maxRoutes });
  }

  async start(): Promise<void> {
    this.stopped = false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.idle();
    await this.round;
  }

  /** Scraping now (someone asked within idleMs). */
  get active(): boolean {
    return this.running;
  }

  /** The window as it is; marks the demand that keeps (or starts) scraping. */
  report(): TrafficReport {
    this.lastAsked = Date.now();
    if (!this.running && !this.stopped) {
      this.running = true;
      this.tick();
    }
    return {
      scraping: this.running,
      interval_ms: this.s.intervalMs,
      window_ms: this.s.windowMs,
      ready: this.window.samplesKept >= 2,
      ...this.window.report(),
      nodes: { scraped: this.scraped, failed: this.failed },
    };
  }

  private idle(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.window.clear();
  }

  private tick(): void {
    if (this.stopped || !this.running) return;
    if (Date.now() - this.lastAsked > this.s.idleMs) {
      this.idle();
      return;
    }
    const started = Date.now();
    this.round = this.scrapeAll().catch((err: unknown) => this.deps.log.warn({ err }, 'traffic scrape round failed'));
    void this.round.then(() => {
      if (this.stopped || !this.running) return;
      this.timer = setTimeout(() => this.tick(), Math.max(0, this.s.intervalMs - (Date.now() - started)));
    });
  }

  private async scrapeAll(): Promise<void> {
    const regions = this.deps.regions();
    const lists = await Promise.all(regions.map((r) => this.deps.directory.nodes(r)));
    const targets = lists.flatMap((l) => l.nodes);
    const results: NodeScrape[] = [];
    const failed: NodeFailure[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < targets.length) {
        const n = targets[next++] as NodeRegistration;
        const node = `${n.region}/${n.cluster}/${n.name}`;
        try {
          results.push({ region: n.region, node, samples: parsePromText(await fetchNodeMetrics(n.admin, { timeoutMs: this.s.nodeTimeoutMs, maxBytes: this.s.maxBodyBytes }), WANTED) });
        } catch (err) {
          failed.push({ region: n.region, node, error: (err as Error).message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.s.concurrency, targets.length) }, worker));
    if (this.stopped || !this.running) return;
    this.window.add(Date.now(), results, regions.map((r) => r.name));
    this.scraped = results.length;
    this.failed = failed.sort((a, b) => a.node.localeCompare(b.node));
  }
}
