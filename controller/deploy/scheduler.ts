import type { Deployment, Region } from '../../src/core/model/index.js';
import type { Logger } from '../../src/core/logger.js';
import type { Lifecycle } from '../../src/core/lifecycle.js';
import type { CentralMirror } from '../central/mirror.js';
import type { NodeDirectory } from '../regions/nodes.js';
import type { ControllerMetrics } from '../metrics.js';
import type { DeploymentActions } from './actions.js';
import { scrapeCounts, type Counts } from './error-rate.js';

const SYSTEM = { name: 'controller', role: 'admin' } as const;

/** One run of a deployment (a restarted one is a new run, with a new error-rate baseline). */
const runKey = (id: string, d: Deployment): string => `${id}@${d.history.findLast((h) => h.event === 'started')?.at ?? ''}`;

/**
 * The leader's deployment loop: advances steps that have a timer, and rolls back a running
 * deployment whose new side's error rate (5xx share of the requests since it started, from the
 * gateways' metrics) passes its threshold once enough requests were seen.
 */
export class DeployScheduler implements Lifecycle {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** Counters when each deployment run was first observed: the rate is on the difference. */
  private readonly baselines = new Map<string, Counts>();

  constructor(
    private readonly mirror: CentralMirror,
    private readonly nodes: NodeDirectory,
    private readonly actions: DeploymentActions,
    private readonly gatewayToken: string,
    private readonly intervalMs: number,
    private readonly metrics: ControllerMetrics,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.tick().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'deploy tick failed')).finally(() => {
        this.busy = false;
      });
    }, this.intervalMs);
  }

  async tick(): Promise<void> {
    const running = this.mirror.list('deployments').filter((d) => (d.value as Deployment).state === 'running');
    const runs = new Set(running.map((r) => runKey(r.id, r.value as Deployment)));
    for (const key of this.baselines.keys()) if (!runs.has(key)) this.baselines.delete(key);
    for (const { id, value } of running) {
      const d = value as Deployment;
      try {
        if (d.rollback && (await this.failing(runKey(id, d), id, d))) continue;
        await this.maybeAdvance(id, d);
      } catch (err) {
        // A 409 means someone else moved it first: the next tick sees the new state.
        this.log.info({ deployment: id, err: (err as Error).message }, 'deploy step skipped');
      }
    }
  }

  private async failing(run: string, id: string, d: Deployment): Promise<boolean> {
    const rb = d.rollback as NonNullable<Deployment['rollback']>;
    const regions = this.mirror.list('regions').map((r) => r.value as Region);
    const all = (await Promise.all(regions.map((r) => this.nodes.nodes(r)))).flatMap((l) => l.nodes);
    const counts = d.kind === 'backend'
      ? await scrapeCounts(all, this.gatewayToken, (s) => s.labels.route === d.route && s.labels.upstream === d.to)
      : await scrapeCounts(all.filter((n) => `${n.region}/${n.cluster}` === d.to), this.gatewayToken, () => true);
    if (counts.scraped === 0) return false;
    const base = this.baselines.get(run);
    if (!base) {
      this.baselines.set(run, { total: counts.total, errors: counts.errors });
      return false;
    }
    const total = counts.total - base.total;
    const errors = counts.errors - base.errors;
    if (total < rb.min_requests) return false;
    const rate = errors / total;
    if (rate <= rb.error_rate) return false;
    const reason = `automatic: error rate ${(rate * 100).toFixed(1)}% over ${total} requests > ${(rb.error_rate * 100).toFixed(1)}%`;
    this.log.warn({ deployment: id, rate, total }, 'rolling back');
    await this.actions.run(id, 'rollback', SYSTEM, reason);
    this.metrics.deployEvents.inc({ event: 'auto_rollback' });
    return true;
  }

  private async maybeAdvance(id: string, d: Deployment): Promise<void> {
    if (!d.interval_s) return;
    const last = [...d.history].reverse().find((h) => h.event === 'step');
    if (!last || Date.now() - Date.parse(last.at) < d.interval_s * 1000) return;
    await this.actions.run(id, 'promote', SYSTEM, `timer: ${d.interval_s}s`);
    this.metrics.deployEvents.inc({ event: 'timer_promote' });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
