import { join } from 'node:path';
import { loadConfig } from '../src/core/config-file.js';
import { PROJECT_ROOT } from '../src/core/servers/binaries.js';
import { LocalCluster } from '../src/cli/up/cluster.js';
import { addressesOf, LocalTopology } from '../src/cli/up/topology.js';
import { RegionPartition } from './partition.js';
import { writeReport } from './report.js';
import { DEFAULT_RUN, runScenario, type ScenarioResult } from './runner.js';
import { SCENARIOS } from './scenarios.js';

/**
 * `npm run chaos [scenario...]`: brings up its own local cluster (on 127.70.x.y, so it never
 * disturbs one started by `npm start`), runs the scenarios under steady load, writes
 * chaos/report/. Exit code 1 when a scenario fails its criteria.
 */
async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}\n`);
    return 2;
  }
  const chosen = argv.length ? SCENARIOS.filter((s) => argv.includes(s.name)) : SCENARIOS;
  const topology = loadConfig(LocalTopology, join(PROJECT_ROOT, 'deploy', 'local.yaml'), { MERIDIAN__BASE: '127.70', MERIDIAN__DNS_PORT: '5353' });
  const log = (m: string) => process.stderr.write(`[chaos] ${m}\n`);
  // Each region in a cgroup of its own when the machine allows it, for the partition scenario.
  const a = addressesOf(topology);
  const partitionUnavailable = await RegionPartition.unavailableReason();
  const partition = partitionUnavailable === undefined ? await RegionPartition.create(topology.regions.map((r, i) => ({ name: r.name, cidr: a.cidr(i) }))) : undefined;
  const cluster = new LocalCluster(topology, { workDir: join(PROJECT_ROOT, '.meridian', 'chaos'), progress: log, cgroupOf: (region) => partition?.cgroupOf(region) });
  const results: ScenarioResult[] = [];
  const stop = async () => {
    await cluster.stop();
    await partition?.dispose();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    log('starting the cluster');
    await cluster.start();
    for (const [i, s] of chosen.entries()) {
      log(`[${i + 1}/${chosen.length}] ${s.name}: ${s.title}`);
      const r = await runScenario(cluster, s, { ...DEFAULT_RUN, log }, { partition, partitionUnavailable });
      results.push(r);
      log(`${s.name}: ${r.skipped ? `skipped (${r.skipped})` : r.error ? `ERROR ${r.error}` : r.analysis?.pass ? 'pass' : 'FAIL'}`);
    }
  } finally {
    await stop();
  }
  const md = writeReport(join(PROJECT_ROOT, 'chaos', 'report'), results, { rate: DEFAULT_RUN.rate, topology: `${topology.regions.length} regions x ${topology.gateways_per_region} gateway nodes` });
  process.stdout.write(`${md.split('\n### ')[0]}\n`);
  return results.some((r) => r.error || (r.analysis && !r.analysis.pass)) ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
