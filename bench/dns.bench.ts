/**
 * `meridian dns` measured: dnsperf against it and against PowerDNS Authoritative (LUA records
 * with ifurlup over the same nodes, same zone, same answers) in one run, and failover times
 * with real `meridian prober` + `meridian dns` processes against gateway stand-ins.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdStore } from '../src/core/etcd-store.js';
import { BinaryServers } from '../test/harness/servers.js';
import { allocateLoopback } from '../test/harness/loopback.js';
import { spawnMeridian } from '../test/harness/cli.js';
import { absoluteFigure, ratioFigure, type Benchmark } from './lib/types.js';

const ZONE = 'gw.example.net';
const UUID = '88888888-8888-4888-8888-888888888888';
const PORT = 5300;
const DURATION_S = 10;

/** A gateway stand-in (until `meridian gateway` runs): /healthz on 9080, public port 8080. */
class StandIn {
  private servers: Server[] = [];
  constructor(readonly host: string) {}
  async start(): Promise<void> {
    const admin = createServer((_req, res) => res.end('ok'));
    const pub = createServer((_req, res) => res.end('gateway'));
    await Promise.all([admin, pub].map((s, i) => new Promise<void>((r) => s.listen(i === 0 ? 9080 : 8080, this.host, () => r()))));
    this.servers = [admin, pub];
  }
  async kill(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); })));
    this.servers = [];
  }
}

function ensureTools(log: (m: string) => void): void {
  const missing = [['dnsperf', 'dnsperf'], ['pdns_server', 'pdns-server'], ['/usr/lib/x86_64-linux-gnu/pdns/libbindbackend.so', 'pdns-backend-bind']].filter(([bin]) => (bin as string).startsWith('/') ? spawnSync('test', ['-e', bin as string]).status !== 0 : spawnSync('which', [bin as string]).status !== 0);
  if (missing.length === 0) return;
  const pkgs = missing.map(([, pkg]) => pkg as string);
  log(`installing ${pkgs.join(', ')} with apt-get`);
  const args = ['install', '-y', '--no-install-recommends', ...pkgs];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (process.getuid?.() === 0) execFileSync('apt-get', args, { stdio: 'ignore', env });
  else execFileSync('sudo', ['-n', 'apt-get', ...args], { stdio: 'ignore', env });
}

interface PerfResult {
  qps: number;
  avgLatencyMs: number;
  lost: number;
  completed: number;
}

function dnsperf(host: string, queryFile: string): PerfResult {
  const out = execFileSync('dnsperf', ['-s', host, '-p', String(PORT), '-d', queryFile, '-l', String(DURATION_S), '-c', '8', '-q', '200', '-T', '1'], { encoding: 'utf8', maxBuffer: 16 << 20 });
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return { qps: num(/Queries per second:\s+([\d.]+)/), avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000, lost: num(/Queries lost:\s+(\d+)/), completed: num(/Queries completed:\s+(\d+)/) };
}

/** Waits until a DNS server answers on host:PORT. */
async function answering(host: string, timeoutMs: number): Promise<void> {
  const q = Buffer.from('abcd01000001000000000000026777076578616d706c65036e65740000060001', 'hex');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      const t = setTimeout(() => { s.close(); resolve(false); }, 300);
      s.on('message', () => { clearTimeout(t); s.close(); resolve(true); });
      s.on('error', () => { clearTimeout(t); s.close(); resolve(false); });
      s.send(q, PORT, host);
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no DNS answer from ${host}:${PORT} within ${timeoutMs} ms`);
}

/** The A records of one query (a small hand-rolled query: the bench has no test helpers). */
async function lookupA(host: string, name: string, ecs?: string): Promise<string[]> {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.from([0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, ecs ? 1 : 0]);
  const parts = [header, ...labels, Buffer.from([0, 0, 1, 0, 1])];
  if (ecs) {
    const [ip = '', len = '0'] = ecs.split('/');
    const addr = Buffer.from(ip.split('.').map(Number)).subarray(0, Math.ceil(Number(len) / 8));
    const opt = Buffer.concat([Buffer.from([0, 8, 0, 4 + addr.length, 0, 1, Number(len), 0]), addr]);
    parts.push(Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, opt.length]), opt);
  }
  const msg = await new Promise<Buffer>((resolve, reject) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => { s.close(); reject(new Error('timeout')); }, 1_000);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m); });
    s.send(Buffer.concat(parts), PORT, host);
  });
  const out: string[] = [];
  let off = 12;
  while ((msg[off] as number) !== 0) off += 1 + (msg[off] as number);
  off += 5;
  for (let i = 0; i < msg.readUInt16BE(6); i++) {
    off += (msg[off] as number) >= 0xc0 ? 2 : 0;
    const type = msg.readUInt16BE(off);
    const len = msg.readUInt16BE(off + 8);
    if (type === 1) out.push([...msg.subarray(off + 10, off + 14)].join('.'));
    off += 10 + len;
  }
  return out.sort();
}

async function until(cond: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    try {
      if (await cond()) return Date.now() - started;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 20));
  }
  return Number.POSITIVE_INFINITY;
}

function stopChild(c: ChildProcess | undefined): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((r) => { c.once('exit', () => r()); c.kill('SIGTERM'); setTimeout(() => c.kill('SIGKILL'), 3_000).unref(); });
}

export const dnsBench: Benchmark = {
  name: 'dns',
  description: 'dnsperf: meridian dns vs PowerDNS 4.7 (LUA ifurlup), same zone and answers; node and region failover times',
  async run(log) {
    ensureTools(log);
    const servers = new BinaryServers();
    const dir = mkdtempSync(join(tmpdir(), 'meridian-dns-bench-'));
    const children: ChildProcess[] = [];
    const standIns: StandIn[] = [];
    try {
      const etcd = await servers.etcd();
      const store = new EtcdStore({ endpoints: [etcd.endpoint] });
      const mk = async () => { const s = new StandIn(await allocateLoopback([9080, 8080])); await s.start(); standIns.push(s); return s; };
      const east = [await mk(), await mk()];
      const west = [await mk(), await mk()];
      const ref = (s: StandIn, i: number) => ({ name: `n${i}`, address: s.host, port: 8080, admin: `http://${s.host}:9080` });
      await store.put('regions/east', { name: 'east', failover: ['west'], cidrs: [{ cidr: '10.1.0.0/16' }, { cidr: '127.0.0.0/8' }], clusters: [{ name: 'c1', nodes: east.map(ref) }] });
      await store.put('regions/west', { name: 'west', failover: ['east'], cidrs: [{ cidr: '10.2.0.0/16' }], clusters: [{ name: 'c1', nodes: west.map(ref) }] });
      await store.put(`vdomains/${UUID}`, { uuid: UUID, policy: { type: 'nearest' }, records: 2, ttl: 5 });

      // Query mix: mostly the steered name, some SOA and NXDOMAIN, like a real authoritative's traffic.
      const queryFile = join(dir, 'queries.txt');
      const lines: string[] = [];
      for (let i = 0; i < 1000; i++) lines.push(i % 10 === 8 ? `${ZONE} SOA` : i % 10 === 9 ? `nope${i}.${ZONE} A` : `${UUID}.${ZONE} A`);
      writeFileSync(queryFile, `${lines.join('\n')}\n`);

      // ---- meridian dns ----
      const mHost = await allocateLoopback([PORT], [PORT]);
      const adminHost = await allocateLoopback([9153, 9154]);
      writeFileSync(join(dir, 'dns.yaml'), `listen: ${mHost}:${PORT}\nadmin: ${adminHost}:9153\netcd:\n  endpoints: ["${etcd.endpoint}"]\n`);
      const dns = spawnMeridian(['dns', '-c', join(dir, 'dns.yaml')], { MERIDIAN_LOG_LEVEL: 'warn' });
      children.push(dns);
      await answering(mHost, 30_000);
      // Listeners come up before the state is loaded from etcd: wait for the steered answer.
      await until(async () => (await lookupA(mHost, `${UUID}.${ZONE}`)).length === 2, 15_000);
      const mAnswer = await lookupA(mHost, `${UUID}.${ZONE}`);
      log(`meridian answers ${mAnswer.join(', ')}`);

      // ---- PowerDNS with the same zone: LUA ifurlup over the same two nodes ----
      const pHost = await allocateLoopback([PORT], [PORT]);
      const zoneFile = join(dir, 'gw.zone');
      const ips = east.map((s) => `'${s.host}'`).join(', ');
      writeFileSync(zoneFile, [
        `$ORIGIN ${ZONE}.`,
        `@ 300 IN SOA ns1.${ZONE}. hostmaster.${ZONE}. 1 3600 600 604800 30`,
        `@ 300 IN NS ns1.${ZONE}.`,
        `ns1 300 IN A ${pHost}`,
        `${UUID} 5 IN LUA A "ifurlup('http://${east[0]?.host}:9080/healthz', {{${ips}}}, {selector='all'})"`,
        '',
      ].join('\n'));
      writeFileSync(join(dir, 'named.conf'), `zone "${ZONE}" { type master; file "${zoneFile}"; };\n`);
      writeFileSync(join(dir, 'pdns.conf'), [
        'launch=bind', `bind-config=${join(dir, 'named.conf')}`, `local-address=${pHost}`, `local-port=${PORT}`,
        'enable-lua-records=yes', `socket-dir=${dir}`, 'guardian=no', 'daemon=no', 'disable-syslog=yes', 'loglevel=3', 'webserver=no', 'security-poll-suffix=',
        '',
      ].join('\n'));
      const pdns = spawn('pdns_server', [`--config-dir=${dir}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      let pdnsErr = '';
      pdns.stderr?.on('data', (d: Buffer) => { pdnsErr += d.toString(); });
      children.push(pdns);
      try {
        await answering(pHost, 15_000);
      } catch (err) {
        throw new Error(`${(err as Error).message}; pdns said: ${pdnsErr.slice(-500)}`, { cause: err });
      }
      // ifurlup checks in the background; its first answer can precede the first check.
      await until(async () => (await lookupA(pHost, `${UUID}.${ZONE}`)).join() === mAnswer.join(), 15_000);
      const pAnswer = await lookupA(pHost, `${UUID}.${ZONE}`);
      log(`pdns answers ${pAnswer.join(', ')}`);
      if (pAnswer.join() !== mAnswer.join()) throw new Error(`answers differ: meridian ${mAnswer.join()} vs pdns ${pAnswer.join()}`);

      log(`dnsperf ${DURATION_S} s each, 8 clients, 200 outstanding, 1 thread`);
      const m = dnsperf(mHost, queryFile);
      log(`meridian dns: ${m.qps.toFixed(0)} q/s, avg ${m.avgLatencyMs.toFixed(2)} ms, lost ${m.lost}`);
      const p = dnsperf(pHost, queryFile);
      log(`pdns:         ${p.qps.toFixed(0)} q/s, avg ${p.avgLatencyMs.toFixed(2)} ms, lost ${p.lost}`);
      await stopChild(pdns);

      // ---- failover with real probers (defaults: interval 1000 ms, rise 2, fall 2) ----
      writeFileSync(join(dir, 'prober.yaml'), `name: bench-prober\nregion: east\nadmin: ${adminHost}:9154\netcd:\n  endpoints: ["${etcd.endpoint}"]\n`);
      const prober = spawnMeridian(['prober', '-c', join(dir, 'prober.yaml')], { MERIDIAN_LOG_LEVEL: 'warn' });
      children.push(prober);
      const both = east.map((s) => s.host).sort().join();
      const ask = () => lookupA(mHost, `${UUID}.${ZONE}`, '10.1.0.0/24');
      await until(async () => (await store.snapshot('health/bench-prober/')).entries.size === 4, 20_000);
      await until(async () => (await ask()).join() === both, 10_000);
      const t0 = Date.now();
      await (east[0] as StandIn).kill();
      const nodeMs = await until(async () => (await ask()).join() === east[1]?.host, 10_000);
      log(`node killed -> gone from answers in ${nodeMs} ms`);
      await new Promise((r) => setTimeout(r, 500));
      await (east[1] as StandIn).kill();
      const westAll = west.map((s) => s.host).sort().join();
      const regionMs = await until(async () => (await ask()).join() === westAll, 10_000);
      log(`region down -> next region in ${regionMs} ms (${Date.now() - t0} ms since the first kill)`);
      await store.stop();

      return {
        figures: {
          dns_qps_vs_pdns: ratioFigure(Math.round(m.qps), Math.round(p.qps), 'queries/s', { min: 0.3 }, 'PowerDNS 4.7 LUA'),
          dns_qps: absoluteFigure(Math.round(m.qps), 'queries/s', { min: 25_000 }),
          node_failover: absoluteFigure(nodeMs, 'ms', { max: 3_000 }),
          region_failover: absoluteFigure(regionMs, 'ms', { max: 5_000 }),
        },
        details: {
          meridian: m,
          pdns: p,
          dnsperf: { duration_s: DURATION_S, clients: 8, outstanding: 200, threads: 1, mix: '80% steered A, 10% SOA, 10% NXDOMAIN' },
          probe: { interval_ms: 1000, timeout_ms: 500, rise: 2, fall: 2, lease_ttl_s: 5 },
          gateway_nodes: 'node:http stand-ins serving /healthz and a TCP port (meridian gateway not built yet)',
          answers: { meridian: mAnswer, pdns: pAnswer },
        },
      };
    } finally {
      for (const c of children.reverse()) await stopChild(c);
      for (const s of standIns) await s.kill();
      await servers.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
