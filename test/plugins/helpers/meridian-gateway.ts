import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, freePort } from '../../harness/index.js';
import { spawnMeridian } from '../../harness/cli.js';

export interface PluginGateway {
  /** http://127.0.0.1:<port> of the data-plane listener. */
  url: string;
  /** http://127.0.0.1:<port> of the admin listener (/status, /metrics). */
  admin: string;
  /** Everything the process printed, for failure messages. */
  output: () => string;
  stop(): Promise<void>;
}

/**
 * `meridian gateway` as an operator starts it: one worker, the standalone route file
 * `<dir>/routes.yaml` (written by the caller, watched by the gateway), the region Redis if
 * given. Resolves once `ready(url)` is true.
 */
export async function startPluginGateway(opts: { dir: string; name: string; redisUrl?: string; ready: (url: string) => Promise<boolean> }): Promise<PluginGateway> {
  const port = await freePort();
  const adminPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  writeFileSync(join(opts.dir, 'gateway.yaml'), JSON.stringify({
    node: { name: opts.name, region: 'r1' },
    listen: { http: `127.0.0.1:${port}` },
    admin: { listen: `127.0.0.1:${adminPort}` },
    workers: 1,
    ...(opts.redisUrl ? { redis: opts.redisUrl } : {}),
    config: { source: 'file', file: join(opts.dir, 'routes.yaml'), snapshot_file: join(opts.dir, 'snap.json') },
    drain: { grace_ms: 0, timeout_ms: 1_000 },
  }));
  const gw = spawnMeridian(['gateway', '-c', join(opts.dir, 'gateway.yaml')], { MERIDIAN_LOG_LEVEL: 'warn' });
  const stop = async (): Promise<void> => {
    if (gw.exitCode !== null) return;
    const exited = new Promise((r) => gw.once('exit', r));
    gw.kill('SIGTERM');
    await exited;
  };
  try {
    await eventually(async () => {
      try {
        return await opts.ready(url);
      } catch {
        return false; // not listening yet
      }
    }, 40_000, 250);
  } catch (err) {
    await stop();
    throw new Error(`gateway did not start: ${(err as Error).message}\n${gw.output()}`, { cause: err });
  }
  return { url, admin: `http://127.0.0.1:${adminPort}`, output: gw.output, stop };
}
