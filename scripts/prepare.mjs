// Makes a fresh clone ready for `npm test`, `npm start` and `npm run bench`: npm dependencies,
// real Consul/etcd/Redis binaries (scripts/setup-servers.sh) and the compiled dist/.
// Each step is skipped when already done, so a second run costs well under a second.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const steps = new Set(process.argv.slice(2).length ? process.argv.slice(2) : ['deps', 'servers', 'build']);
const say = (m) => process.stderr.write(`[prepare] ${m}\n`);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

if (steps.has('deps')) {
  const installed = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(installed) || mtime(join(root, 'package-lock.json')) > mtime(installed)) {
    say('installing npm dependencies (npm ci)');
    run('npm', ['ci', '--no-audit', '--no-fund']);
  }
}
if (steps.has('servers')) {
  run('bash', [join(root, 'scripts', 'setup-servers.sh')]);
}
if (steps.has('build')) {
  say('compiling TypeScript to dist/');
  run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json']);
}
