import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegionPartition } from '../../chaos/partition.js';
import { ManagedProcess } from '../../src/core/servers/managed-process.js';

// Real cgroups and a real nftables table on loopback; skipped, with its reason, without root,
// a writable cgroup v2 or nftables.
const unavailable = await RegionPartition.unavailableReason();
const regions = [
  { name: 'pa', cidr: '127.71.1.0/24' },
  { name: 'pb', cidr: '127.71.2.0/24' },
];

function listen(host: string): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer((s) => s.end());
    server.once('error', reject);
    server.listen(0, host, () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === 'object' && addr ? addr.port : 0 });
    });
  });
}

describe.skipIf(unavailable !== undefined)(`region partition (${unavailable ?? 'root, cgroup v2 and nft available'})`, () => {
  let partition: RegionPartition;
  let inA: { server: Server; port: number };
  let inB: { server: Server; port: number };

  beforeAll(async () => {
    partition = await RegionPartition.create(regions, `meridian-test-${process.pid}`);
    inA = await listen('127.71.1.5');
    inB = await listen('127.71.2.5');
  });

  afterAll(async () => {
    inA?.server.close();
    inB?.server.close();
    await partition?.dispose();
  });

  it('cuts traffic between regions both ways, keeps each region and outsiders connected, and heals', async () => {
    expect(await partition.reachable('pa', '127.71.2.5', inB.port)).toBe(true);
    await partition.cut();
    await partition.cut(); // idempotent
    expect(await partition.reachable('pa', '127.71.2.5', inB.port, 500)).toBe(false);
    expect(await partition.reachable('pb', '127.71.1.5', inA.port, 500)).toBe(false);
    expect(await partition.reachable('pa', '127.71.1.5', inA.port)).toBe(true);
    expect(await partition.reachable('pb', '127.71.2.5', inB.port)).toBe(true);
    await partition.heal();
    expect(await partition.reachable('pa', '127.71.2.5', inB.port)).toBe(true);
    expect(await partition.reachable('pb', '127.71.1.5', inA.port)).toBe(true);
  });

  it('runs a managed process inside its region cgroup, with its own pid', async () => {
    const proc = new ManagedProcess({ name: 'sleeper', command: 'sleep', args: ['30'], cgroup: partition.cgroupOf('pb'), ready: async () => true });
    await proc.start();
    try {
      const pid = proc.pid ?? 0;
      // The shell joins the cgroup, then execs in place: the pid becomes the program.
      await expect.poll(() => readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), { timeout: 5_000 }).toBe('sleep');
      expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(`/meridian-test-${process.pid}/pb\n`);
    } finally {
      await proc.kill();
    }
  });

  it('removes its cgroups on dispose once they are empty', async () => {
    const other = await RegionPartition.create([{ name: 'solo', cidr: '127.71.3.0/24' }], `meridian-test-${process.pid}-b`);
    const dir = other.cgroupOf('solo');
    expect(existsSync(dir)).toBe(true);
    await other.dispose();
    expect(existsSync(dir)).toBe(false);
  });
});
