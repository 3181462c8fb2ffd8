import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/core/servers/binaries.js';

/** `meridian ...` from the TypeScript sources (tsx), so tests never run a stale build. */
export const MERIDIAN = ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts')];

export function runMeridian(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [...MERIDIAN, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** A long-running `meridian ...` process (gateway, dns, prober...), its output kept for assertions. */
export function spawnMeridian(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [...MERIDIAN, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  return Object.assign(child, { output: () => out });
}

/** Stops a `meridian ...` process with SIGTERM (its graceful path) and waits for it to exit. */
export async function stopMeridian(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}
