import { spawn } from 'node:child_process';
import { mkdirSync, rmdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { findBinary } from '../src/core/servers/binaries.js';
import { cgroup2Mount, inCgroup } from '../src/core/servers/cgroup.js';

/** One region as the partition sees it: its name and the loopback block its processes use. */
export interface RegionBlock {
  name: string;
  cidr: string;
}

/** nft resolves cgroup paths under this folder. */
const NFT_CGROUP_ROOT = '/sys/fs/cgroup';

function run(command: string, args: string[], input?: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => resolve({ code: -1, stderr: err.message }));
    child.once('exit', (code) => resolve({ code: code ?? -1, stderr: stderr.trim() }));
    child.stdin.end(input ?? '');
  });
}

/**
 * A network partition between regions of the local cluster, on the shared loopback.
 *
 * Every region's processes run in a cgroup v2 folder of their own (LocalCluster's cgroupOf);
 * cut() loads an nftables table that drops, in the output hook, every packet a region's
 * process sends to another region's address block. That is what a partition between two
 * sites does (SYNs time out, established connections stall, gossip goes unanswered), while
 * central parts and the client, in no region's cgroup, still reach both. Source addresses
 * cannot serve: unbound client sockets on loopback all leave from 127.0.0.1. Separate network
 * namespaces would need non-loopback addresses on veth links, which this project never uses.
 */
export class RegionPartition {
  private readonly nft: string;
  private readonly root: string;
  private readonly table: string;

  private constructor(
    private readonly regions: readonly RegionBlock[],
    private readonly mount: string,
    tag: string,
  ) {
    this.nft = findBinary('nft');
    this.root = join(mount, tag);
    this.table = tag.replace(/[^a-zA-Z0-9_]/g, '_');
  }

  /** Why a partition cannot be made here, or undefined when it can. */
  static async unavailableReason(): Promise<string | undefined> {
    if (process.getuid?.() !== 0) return 'needs root (cgroups and nftables)';
    const mount = cgroup2Mount();
    if (!mount) return 'no cgroup v2 hierarchy is mounted';
    if (relative(NFT_CGROUP_ROOT, mount).startsWith('..')) return `cgroup v2 is mounted at ${mount}, outside ${NFT_CGROUP_ROOT} where nft looks`;
    try {
      findBinary('nft');
    } catch {
      return 'nft is not installed (Debian package nftables; scripts/setup-servers.sh installs it when run as root)';
    }
    // A trial run of everything a partition does: cgroups made and joined, the rules loaded
    // (the kernel must know nftables' cgroup v2 socket match), all undone.
    const trial = new RegionPartition([{ name: 'a', cidr: '127.255.255.248/30' }, { name: 'b', cidr: '127.255.255.252/30' }], mount, `meridian-probe-${process.pid}`);
    try {
      for (const r of trial.regions) mkdirSync(trial.cgroupOf(r.name), { recursive: true });
      const { command, args } = inCgroup(trial.cgroupOf('a'), 'true', []);
      const joined = await run(command, args);
      if (joined.code !== 0) return `cannot move a process into a cgroup under ${mount}: ${joined.stderr}`;
      await trial.cut();
      return undefined;
    } catch (err) {
      return (err as Error).message;
    } finally {
      await trial.dispose();
    }
  }

  /** Makes one cgroup per region under `<cgroup2 mount>/<tag>`; throws when unavailable. */
  static async create(regions: readonly RegionBlock[], tag = 'meridian-chaos'): Promise<RegionPartition> {
    const reason = await RegionPartition.unavailableReason();
    const mount = cgroup2Mount();
    if (reason || !mount) throw new Error(`cannot partition regions: ${reason ?? 'no cgroup v2'}`);
    const p = new RegionPartition(regions, mount, tag);
    for (const r of regions) mkdirSync(p.cgroupOf(r.name), { recursive: true });
    await p.heal(); // a table left by a run that crashed
    return p;
  }

  cgroupOf(region: string): string {
    return join(this.root, region);
  }

  private rules(): string {
    const lines: string[] = [];
    const level = relative(this.mount, this.root).split('/').length + 1;
    for (const from of this.regions) {
      const path = relative(NFT_CGROUP_ROOT, this.cgroupOf(from.name));
      for (const to of this.regions) {
        if (to !== from) lines.push(`    socket cgroupv2 level ${level} "${path}" ip daddr ${to.cidr} drop`);
      }
    }
    return `table inet ${this.table} {\n  chain output {\n    type filter hook output priority 0; policy accept;\n${lines.join('\n')}\n  }\n}\n`;
  }

  /** Cuts every region off from every other. */
  async cut(): Promise<void> {
    // Declaring, deleting and redefining the table makes the load idempotent.
    const script = `table inet ${this.table} {}\ndelete table inet ${this.table}\n${this.rules()}`;
    const r = await run(this.nft, ['-f', '-'], script);
    if (r.code !== 0) throw new Error(`nft could not load the partition: ${r.stderr}`);
  }

  /** Joins the regions again. */
  async heal(): Promise<void> {
    const r = await run(this.nft, ['-f', '-'], `table inet ${this.table} {}\ndelete table inet ${this.table}\n`);
    if (r.code !== 0) throw new Error(`nft could not remove the partition: ${r.stderr}`);
  }

  /** Whether a process of `region` can open a TCP connection to host:port right now. */
  async reachable(region: string, host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
    const script = "const s=require('net').connect({host:process.argv[1],port:+process.argv[2]});s.setTimeout(+process.argv[3],()=>process.exit(1));s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(2));";
    const { command, args } = inCgroup(this.cgroupOf(region), process.execPath, ['-e', script, host, String(port), String(timeoutMs)]);
    return (await run(command, args)).code === 0;
  }

  /** Heals and removes the cgroups; call after every process of the regions has exited. */
  async dispose(): Promise<void> {
    await this.heal().catch(() => undefined);
    for (const r of this.regions) {
      try {
        rmdirSync(this.cgroupOf(r.name));
      } catch {
        // a process still in it; the folder is reused by the next run
      }
    }
    try {
      rmdirSync(this.root);
    } catch {
      // not empty
    }
  }
}
