/**
 * The programs as operators run them: `meridian prober` and `meridian dns` as processes with
 * YAML configs and the default probe settings (interval 1 s, rise 2, fall 2), against real
 * etcd and gateway stand-ins.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocateLoopback, eventually, useServers } from '../harness/index.js';
import { spawnMeridian } from '../harness/cli.js';
import { EtcdStore } from '../../src/core/etcd-store.js';
import { StandInNode, regionOf, dnsAddress, query, addresses, Packet, ZONE, DNS_PORT } from '../dns/helpers.js';

const UUID = '77777777-7777-4777-8777-777777777777';
const dir = mkdtempSync(join(tmpdir(), 'meridian-cli-dns-'));
let store: EtcdStore;
let dnsHost: string;
let adminHost: string;
const children: Array<ChildProcess & { output: () => string }> = [];
const nodes: StandInNode[] = [];

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (code) => r(code))));
}

beforeAll(async () => {
  const servers = await useServers();
  const etcd = await servers.etcd();
  store = new EtcdStore({ endpoints: [etcd.endpoint] });
  nodes.push(await StandInNode.create(), await StandInNode.create());
  await store.put('regions/east', regionOf('east', [{ name: 'c1', nodes: nodes.map((n, i) => n.ref(`n${i + 1}`)) }], { cidrs: [{ cidr: '10.6.0.0/16' }] }));
  await store.put(`vdomains/${UUID}`, { uuid: UUID, policy: { type: 'nearest' } });
  dnsHost = await dnsAddress();
  adminHost = await allocateLoopback([9153, 9154]);
  const etcdYaml = `etcd:\n  endpoints: ["${etcd.endpoint}"]\n`;
  writeFileSync(join(dir, 'prober.yaml'), `name: p-cli\nregion: east\nadmin: ${adminHost}:9154\n${etcdYaml}`);
  writeFileSync(join(dir, 'dns.yaml'), `listen: ${dnsHost}:${DNS_PORT}\nadmin: ${adminHost}:9153\nsnapshot_file: ${join(dir, 'dns-state.json')}\n${etcdYaml}`);
  const env = { MERIDIAN_LOG_LEVEL: 'warn' };
  children.push(spawnMeridian(['prober', '-c', join(dir, 'prober.yaml')], env), spawnMeridian(['dns', '-c', join(dir, 'dns.yaml')], env));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const n of nodes) await n.kill();
  await store?.stop();
});

describe('meridian prober + meridian dns (processes, default probe settings)', () => {
  it('serve /healthz and /metrics, and a killed node leaves the answers within 3 s', async () => {
    const answer = async () => addresses(await query(dnsHost, `${UUID}.${ZONE}`, Packet.TYPE.A, { ecs: '10.6.1.0/24' }));
    await eventually(async () => (await fetch(`http://${adminHost}:9153/healthz`)).status === 200, 20_000, 200);
    await eventually(async () => (await fetch(`http://${adminHost}:9154/healthz`)).status === 200, 20_000, 200);
    await eventually(async () => (await store.snapshot('health/p-cli/')).entries.size === 2, 10_000, 100);
    expect(await answer()).toEqual(nodes.map((n) => n.host).sort());

    const killed = Date.now();
    await (nodes[0] as StandInNode).kill();
    await eventually(async () => (await answer()).join() === nodes[1]?.host, 5_000, 25);
    const gone = Date.now() - killed;
    console.log(`[failover] meridian processes: node killed -> gone from answers in ${gone} ms (interval 1000 ms, fall 2)`);
    expect(gone).toBeLessThanOrEqual(3_000);

    expect(await (await fetch(`http://${adminHost}:9153/metrics`)).text()).toContain('meridian_dns_queries_total');
    expect(await (await fetch(`http://${adminHost}:9154/metrics`)).text()).toContain('meridian_probe_results_total');
  });

  it('SIGTERM: both exit 0 and the prober takes its observations with it', async () => {
    for (const c of children) c.kill('SIGTERM');
    const codes = await Promise.all(children.map(exited));
    expect(codes, children.map((c) => c.output()).join('\n')).toEqual([0, 0]);
    expect((await store.snapshot('health/p-cli/')).entries.size).toBe(0);
  });
});
