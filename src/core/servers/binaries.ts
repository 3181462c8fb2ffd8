import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MeridianError } from '../errors/index.js';

/** Project root: three levels above this file in both src/ and dist/src/. */
export const PROJECT_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      accessSync(join(dir, 'package.json'));
      return dir;
    } catch {
      dir = dirname(dir);
    }
  }
  return process.cwd();
})();

export const SERVER_BIN_DIR = join(PROJECT_ROOT, '.meridian', 'bin');

export type ServerBinary = 'consul' | 'etcd' | 'redis-server' | 'nft';

/** .meridian/bin (what scripts/setup-servers.sh made), then PATH. */
export function findBinary(name: ServerBinary): string {
  const dirs = [SERVER_BIN_DIR, ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)];
  for (const dir of dirs) {
    const candidate = resolve(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new MeridianError('MERIDIAN_ERR_HARNESS_BINARY', { name, reason: `not in ${SERVER_BIN_DIR} nor on PATH` });
}
