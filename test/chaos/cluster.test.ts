import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config-file.js';
import { PROJECT_ROOT } from '../../src/core/servers/binaries.js';
import { LocalCluster } from '../../src/cli/up/cluster.js';
import { LocalTopology } from '../../src/cli/up/topology.js';
import { runScenario } from '../../chaos/runner.js';
import { CI_SCENARIOS, SCENARIOS } from '../../chaos/scenarios.js';

// The CI-sized chaos subset: the whole local cluster (2 regions x 2 gateway nodes, real Consul,
// etcd, Redis, controller, probers and DNS) on its own loopback range, then a gateway node
// kill and a region outage under steady load, judged by the scenarios' own criteria.
const topology = loadConfig(LocalTopology, join(PROJECT_ROOT, 'deploy', 'local.yaml'), { MERIDIAN__BASE: '127.60', MERIDIAN__DNS_PORT: '5353' });
const cluster = new LocalCluster(topology, { workDir: mkdtempSync(join(tmpdir(), 'meridian-chaos-')) });

beforeAll(async () => {
  await cluster.start();
}, 180_000);

afterAll(async () => {
  await cluster.stop();
}, 60_000);

describe('chaos (CI subset)', () => {
  for (const name of CI_SCENARIOS.filter((n) => !process.env.MERIDIAN_CHAOS_ONLY || n === process.env.MERIDIAN_CHAOS_ONLY)) {
    const scenario = SCENARIOS.find((s) => s.name === name);
    if (!scenario) throw new Error(`no scenario ${name}`);
    it(`${name}: ${scenario.title}`, async () => {
      const r = await runScenario(cluster, scenario, { rate: 60, warmupMs: 3_000, faultMs: 12_000, afterMs: 4_000, log: () => undefined });
      expect(r.error).toBeUndefined();
      const failures = new Map<string, number>();
      for (const f of r.samples.filter((x) => !x.ok)) {
        const k = `t=${Math.floor((f.at - r.faultAt) / 1000)}s ${f.node} ${f.status} ${f.error ?? ''}`;
        failures.set(k, (failures.get(k) ?? 0) + 1);
      }
      const summary = `${r.analysis?.checks.map((c) => `${c.what}: ${c.value} (${c.bound}) ${c.pass ? 'pass' : 'FAIL'}`).join('; ')}; restored at t=${Math.round((r.restoreAt - r.faultAt) / 1000)}s; failures: ${[...failures].slice(0, 12).map(([k, n]) => `${k} x${n}`).join(' | ')}`;
      expect(r.analysis?.pass, summary).toBe(true);
    }, 120_000);
  }

  it('stop() ends every process; each gateway finishes its drain (deregistered), none is killed', async () => {
    await cluster.stop();
    expect(cluster.members.filter((m) => m.proc.running).map((m) => m.name)).toEqual([]);
    const gateways = cluster.members.filter((m) => m.kind === 'gateway');
    expect(gateways.length).toBeGreaterThan(0);
    for (const g of gateways) {
      // This stop's drain: what the log says after its last "draining" (scenarios restart nodes).
      const log = readFileSync(join(cluster.logDir, `${g.name}.log`), 'utf8');
      expect(log.slice(log.lastIndexOf('"msg":"draining"')), g.name).toContain('drained; exiting');
    }
  }, 60_000);
});
