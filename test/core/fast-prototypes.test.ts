import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * %HasFastProperties(String.prototype) in a fresh Node process after importing `module`
 * (natives syntax needs its own process; tsx loads the TypeScript source).
 */
async function stringPrototypeFastAfter(module: string): Promise<boolean> {
  const script = `const fast = new Function('o', 'return %HasFastProperties(o)');
await import(${JSON.stringify(module)});
process.stdout.write(String(fast(String.prototype)));`;
  const { stdout } = await run(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, timeout: 60_000 });
  return stdout.trim() === 'true';
}

describe('String.prototype stays in fast mode', () => {
  it('ioredis alone leaves it slow (what restoreFastStringPrototype is for)', async () => {
    expect(await stringPrototypeFastAfter('ioredis')).toBe(false);
  });

  it('the plugins Redis module (which imports ioredis) leaves it fast, and a later String subclass does not undo it', async () => {
    expect(await stringPrototypeFastAfter(`${root}src/plugins/shared/redis.ts`)).toBe(true);
    const script = `const fast = new Function('o', 'return %HasFastProperties(o)');
await import(${JSON.stringify(`${root}src/plugins/shared/redis.ts`)});
class Another extends String {}
process.stdout.write(String(fast(String.prototype) && new Another('x').length === 1));`;
    const { stdout } = await run(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, timeout: 60_000 });
    expect(stdout.trim()).toBe('true');
  });
});
