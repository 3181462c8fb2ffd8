import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT, findBinary } from '../../src/core/servers/binaries.js';
import { killNoted } from './pid-registry.js';

function serversPresent(): boolean {
  try {
    findBinary('consul');
    findBinary('etcd');
    findBinary('redis-server');
    return true;
  } catch {
    return false;
  }
}

/** Once per `vitest run`: servers installed, leftovers of an interrupted run killed. */
export default function setup(): () => void {
  const stale = killNoted();
  if (stale > 0) console.log(`[harness] killed ${stale} server(s) left by an earlier run`);
  if (!serversPresent()) {
    execFileSync('bash', [join(PROJECT_ROOT, 'scripts', 'setup-servers.sh')], { stdio: 'inherit' });
  }
  return () => {
    const left = killNoted();
    if (left > 0) console.log(`[harness] killed ${left} server(s) a suite left running`);
  };
}
