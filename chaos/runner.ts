import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalCluster } from '../src/cli/up/cluster.js';
import { addressesOf } from '../src/cli/up/topology.js';
import { analyse, type Analysis } from './analysis.js';
import { SdkClient, SteadyLoad, type Sample } from './client.js';
import type { ChaosContext, Fault, Scenario } from './scenarios.js';

export interface ScenarioResult {
  name: string;
  title: string;
  skipped?: string;
  error?: string;
  faultAt: number;
  restoreAt: number;
  analysis?: Analysis;
  samples: Sample[];
}

export interface RunOptions {
  rate: number;
  warmupMs: number;
  /** How long the fault lasts. */
  faultMs: number;
  /** Load kept on after the fault is undone. */
  afterMs: number;
  log: (msg: string) => void;
}

export const DEFAULT_RUN: Omit<RunOptions, 'log'> = { rate: 100, warmupMs: 4_000, faultMs: 15_000, afterMs: 8_000 };

export function clientFor(cluster: LocalCluster): SdkClient {
  const t = cluster.topology;
  const a = addressesOf(t);
  return new SdkClient({
    name: t.demo.business_domain,
    resolvers: t.regions.map((_, i) => ({ host: a.dns(i), port: t.dns_port })),
    clientSubnet: a.cidr(0),
    port: t.gateway_port,
    path: t.demo.route_path,
    headers: { apikey: t.demo.key },
  });
}

/** Every member running and healthy again (the previous scenario's fault undone). */
export async function waitHealthy(cluster: LocalCluster, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await cluster.status();
    const bad = status.filter((s) => s.state !== 'healthy');
    if (bad.length === 0) return;
    if (Date.now() > deadline) throw new Error(`not healthy: ${bad.map((b) => `${b.name}=${b.state}`).join(', ')}`);
    await sleep(500);
  }
}

export async function runScenario(cluster: LocalCluster, scenario: Scenario, options: RunOptions, context: ChaosContext = { partition: undefined }): Promise<ScenarioResult> {
  const skip = scenario.skipReason?.(context);
  if (skip) return { name: scenario.name, title: scenario.title, skipped: skip, faultAt: 0, restoreAt: 0, samples: [] };
  await waitHealthy(cluster);
  // The previous fault's DNS answers must have expired from the client's view.
  await sleep(6_000);
  const client = clientFor(cluster);
  const load = new SteadyLoad(client, options.rate);
  let faultAt = 0;
  let restoreAt = 0;
  let pending: Fault | undefined;
  try {
    await sleep(options.warmupMs);
    faultAt = load.now();
    options.log(`${scenario.name}: fault at ${(faultAt / 1000).toFixed(1)} s`);
    const fault = await scenario.inject(cluster, context);
    pending = fault;
    await sleep(options.faultMs);
    restoreAt = load.now();
    options.log(`${scenario.name}: restoring at ${(restoreAt / 1000).toFixed(1)} s`);
    pending = undefined;
    await fault.restore();
    await sleep(options.afterMs);
    const samples = await load.stop();
    const analysis = analyse(samples, faultAt, scenario.criteria, fault.faultyNodes, restoreAt);
    if (fault.checks) {
      analysis.checks.push(...(await fault.checks()));
      analysis.pass = analysis.checks.every((c) => c.pass);
    }
    return { name: scenario.name, title: scenario.title, faultAt, restoreAt, analysis, samples };
  } catch (err) {
    // A fault left in place (a partition, a stopped server) would spoil the scenarios after it.
    await pending?.restore().catch(() => undefined);
    const samples = await load.stop();
    return { name: scenario.name, title: scenario.title, error: (err as Error).message, faultAt, restoreAt, samples };
  } finally {
    await client.close();
  }
}
