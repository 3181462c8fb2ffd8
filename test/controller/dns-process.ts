import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { allocateLoopback } from '../harness/index.js';
import { spawnMeridian } from '../harness/cli.js';

/**
 * A real `meridian dns` process on a loopback address of its own (UDP and TCP port 5300, admin
 * 9153), reading regions, virtual domains and health from central etcd: the server the
 * controller's `GET /v1/vdomains/{id}/answer` asks. `server` is what the controller's
 * `dns.servers` lists; `healthz` answers 200 once the server has loaded its state.
 */
export async function spawnDns(opts: { dir: string; etcd: string; name?: string }): Promise<{ server: string; healthz: string; child: ReturnType<typeof spawnMeridian> }> {
  const host = await allocateLoopback([5300, 9153], [5300]);
  const file = join(opts.dir, `${opts.name ?? 'dns'}.yaml`);
  writeFileSync(file, stringify({ listen: `${host}:5300`, admin: `${host}:9153`, etcd: { endpoints: [opts.etcd], prefix: '/meridian' } }));
  return { server: `${host}:5300`, healthz: `http://${host}:9153/healthz`, child: spawnMeridian(['dns', '-c', file], { MERIDIAN_LOG_LEVEL: 'warn' }) };
}
