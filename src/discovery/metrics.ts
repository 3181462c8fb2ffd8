import { Counter, Histogram, type Registry } from 'prom-client';
import { METRICS } from '../core/metric-names.js';
import type { LookupResult } from './cache-entry.js';

export interface LookupTally {
  service: string;
  result: LookupResult;
  count: number;
}

/**
 * The discovery metrics, registered on the registry the gateway worker passes in.
 * Lookups are counted per request on the hot path, so sources keep plain integer tallies and
 * the counter takes them in only when scraped (`collect`), instead of a labelled inc() per request.
 */
export class DiscoveryMetrics {
  readonly lookups: Counter<'service' | 'result'>;
  readonly failovers: Counter<'service' | 'from' | 'to'>;
  readonly purges: Counter<'result'>;
  readonly purgeDuration: Histogram;

  constructor(registry: Registry, drainTallies: () => Iterable<LookupTally>) {
    const lookups: Counter<'service' | 'result'> = new Counter({
      name: METRICS.discoveryLookups,
      help: 'Upstream node lookups served from the discovery cache, by result (hit, miss, stale, negative)',
      labelNames: ['service', 'result'],
      registers: [registry],
      collect: () => {
        for (const t of drainTallies()) if (t.count > 0) lookups.inc({ service: t.service, result: t.result }, t.count);
      },
    });
    this.lookups = lookups;
    this.failovers = new Counter({
      name: METRICS.discoveryFailovers,
      help: 'Switches of an upstream between datacenters (to a failover datacenter, or back)',
      labelNames: ['service', 'from', 'to'],
      registers: [registry],
    });
    this.purges = new Counter({
      name: METRICS.discoveryPurges,
      help: 'Discovery cache purges, by result (ok: every entry re-resolved; partial: some kept stale data)',
      labelNames: ['result'],
      registers: [registry],
    });
    this.purgeDuration = new Histogram({
      name: METRICS.discoveryPurgeDuration,
      help: 'Time from a purge call until every matching entry was re-resolved and every source updated',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
  }
}
