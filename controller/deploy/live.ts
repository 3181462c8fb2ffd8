import type { NodeRegistration } from '../../src/core/keys.js';
import type { Deployment, Region } from '../../src/core/model/index.js';
import type { NodeDirectory } from '../regions/nodes.js';
import { scrapeNodeCounts, type Counts, type Sample } from './error-rate.js';

type Side = 'from' | 'to';

/** One side of a deployment now: its share of the traffic and what the gateways saw of it. */
export interface DeploySide {
  side: Side;
  /** The upstream id (backend) or `region/cluster` (gateway). */
  name: string;
  /** Percent of the traffic the deployment's current step gives this side. */
  weight: number;
  /** Over `window_ms` (null until two scrapes are apart): requests/s, 5xx share (null without requests), and the counts. */
  rps: number | null;
  error_rate: number | null;
  requests: number | null;
  errors: number | null;
}

/** `GET /v1/deployments/{id}/live`. */
export interface DeploymentLive {
  id: string;
  kind: Deployment['kind'];
  state: Deployment['state'];
  /** The time the rates cover (the oldest kept scrape to this one), null on the first scrape. */
  window_ms: number | null;
  sides: [DeploySide, DeploySide];
  nodes: { registered: number; scraped: number };
}

/** The split the deployment's state writes on its target, in percent per side. */
export function weights(d: Deployment): Record<Side, number> {
  if (d.state === 'promoted') return { from: 0, to: 100 };
  if (d.state !== 'running') return { from: 100, to: 0 };
  const to = d.steps[d.step] ?? 0;
  return { from: 100 - to, to };
}

/** What a sample of a side is: the route's requests to the upstream, or every request of the cluster's nodes (as the scheduler's error rate). */
function selectors(d: Deployment): Record<Side, (s: Sample, n: NodeRegistration) => boolean> {
  if (d.kind === 'backend') return { from: (s) => s.labels.route === d.route && s.labels.upstream === d.from, to: (s) => s.labels.route === d.route && s.labels.upstream === d.to };
  return { from: (_s, n) => `${n.region}/${n.cluster}` === d.from, to: (_s, n) => `${n.region}/${n.cluster}` === d.to };
}

interface Scrape {
  at: number;
  /** Per node (`region/cluster/name`): its counters per side. */
  nodes: Map<string, Record<Side, Counts>>;
}

export interface LiveOptions {
  regions: () => Region[];
  directory: NodeDirectory;
  token: string;
  /** Rates cover the scrapes of the last windowMs (default 10 s). */
  windowMs?: number;
  /** A request within this of the last scrape reuses it (default 1 s): many tabs polling cost one scrape. */
  reuseMs?: number;
  nodeTimeoutMs?: number;
}

/**
 * Live per-side figures of deployments, scraped from every registered gateway node's /metrics
 * when asked (nothing runs while nobody asks). Each deployment keeps its scrapes of the last
 * window; a rate is the counters' difference between the oldest and the newest, summed over the
 * nodes seen in both (a node whose counters went down restarted: its new value is its delta).
 * Deployments not asked about for a minute are forgotten.
 */
export class DeploymentLiveStats {
  private readonly scrapes = new Map<string, { asked: number; list: Scrape[]; registered: number; scraped: number }>();
  private readonly windowMs: number;
  private readonly reuseMs: number;

  constructor(private readonly opts: LiveOptions) {
    this.windowMs = opts.windowMs ?? 10_000;
    this.reuseMs = opts.reuseMs ?? 1_000;
  }

  async live(id: string, d: Deployment): Promise<DeploymentLive> {
    const now = Date.now();
    for (const [k, v] of this.scrapes) if (now - v.asked > 60_000) this.scrapes.delete(k);
    // A run (a restart is a new one) or a changed spec starts over: old counters are another split's.
    const key = `${id}@${d.history.findLast((h) => h.event === 'started')?.at ?? ''}/${d.kind}/${d.from}/${d.to}/${d.route ?? d.vdomain ?? ''}`;
    let entry = this.scrapes.get(key);
    if (!entry) {
      entry = { asked: now, list: [], registered: 0, scraped: 0 };
      this.scrapes.set(key, entry);
    }
    entry.asked = now;
    const newest = entry.list[entry.list.length - 1];
    if (!newest || now - newest.at >= this.reuseMs) {
      const all = (await Promise.all(this.opts.regions().map((r) => this.opts.directory.nodes(r)))).flatMap((l) => l.nodes);
      const counts = await scrapeNodeCounts(all, this.opts.token, selectors(d), this.opts.nodeTimeoutMs);
      const nodes = new Map<string, Record<Side, Counts>>();
      counts.forEach((c, i) => { if (c) nodes.set(`${all[i]?.region}/${all[i]?.cluster}/${all[i]?.name}`, c); });
      entry.list.push({ at: Date.now(), nodes });
      entry.registered = all.length;
      entry.scraped = nodes.size;
      // Keep the newest scrape older than the window too: the rate then spans the whole window.
      while (entry.list.length > 2 && (entry.list[1] as Scrape).at <= Date.now() - this.windowMs) entry.list.shift();
    }
    const first = entry.list[0] as Scrape;
    const last = entry.list[entry.list.length - 1] as Scrape;
    const w = weights(d);
    const side = (s: Side): DeploySide => {
      const name = s === 'from' ? d.from : d.to;
      if (first === last) return { side: s, name, weight: w[s], rps: null, error_rate: null, requests: null, errors: null };
      let requests = 0;
      let errors = 0;
      for (const [node, now] of last.nodes) {
        const before = first.nodes.get(node);
        if (!before) continue;
        const restarted = now[s].total < before[s].total;
        requests += restarted ? now[s].total : now[s].total - before[s].total;
        errors += restarted ? now[s].errors : Math.max(0, now[s].errors - before[s].errors);
      }
      const seconds = (last.at - first.at) / 1000;
      return { side: s, name, weight: w[s], rps: requests / seconds, error_rate: requests > 0 ? errors / requests : null, requests, errors };
    };
    return { id, kind: d.kind, state: d.state, window_ms: first === last ? null : last.at - first.at, sides: [side('from'), side('to')], nodes: { registered: entry.registered, scraped: entry.scraped } };
  }
}
