// Makes a fresh clone ready for `npm test`, `npm start` and `npm run bench`: npm dependencies,
// real Consul/etcd/Redis binaries (scripts/setup-servers.sh), the compiled dist/ and the web
// console built by Vite into dist/console (served by the controller at /ui/).
// Each step is skipped when already done, so a second run costs well under a second.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const steps = new Set(process.argv.slice(2).length ? process.argv.slice(2) : ['deps', 'servers', 'build', 'console']);
const say = (m) => process.stderr.write(`[prepare] ${m}\n`);
const run = (cmd, args, env = process.env) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env });
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);
/** The newest modification time of any file under `dir`. */
const newest = (dir) => Math.max(0, ...readdirSync(dir, { recursive: true }).map((f) => mtime(join(dir, String(f)))));

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
if (steps.has('console')) {
  const src = join(root, 'controller', 'console');
  const built = join(root, 'dist', 'console', 'index.html');
  if (mtime(built) < Math.max(newest(src), mtime(join(root, 'package-lock.json')))) {
    say('building the web console into dist/console (vite)');
    // A production build whoever runs it (vitest sets NODE_ENV=test, which keeps dev-only code).
    run(join(root, 'node_modules', '.bin', 'vite'), ['build', '--config', join(src, 'vite.config.ts')], { ...process.env, NODE_ENV: 'production' });
  }
}
