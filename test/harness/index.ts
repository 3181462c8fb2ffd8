import { afterAll } from 'vitest';
import { BinaryServers, type ServerFactory } from './servers.js';

export type { ConsulServer, EtcdServer, RedisServer, ServerControl, ServerFactory } from './servers.js';
export { allocateLoopback, freePort } from './loopback.js';

/**
 * Real servers for a test suite. MERIDIAN_TEST_BACKEND=containers runs them with
 * testcontainers when a Docker engine is reachable; otherwise the binaries are started.
 */
export async function createServers(): Promise<ServerFactory> {
  if (process.env.MERIDIAN_TEST_BACKEND === 'containers') {
    // Loaded only when asked for: testcontainers pulls in a large dependency tree.
    const { ContainerServers, dockerReachable } = await import('./containers.js');
    if (await dockerReachable()) return new ContainerServers();
    console.warn('[harness] MERIDIAN_TEST_BACKEND=containers but no Docker engine answers: starting the binaries');
  }
  return new BinaryServers();
}

const inUse = new Set<ServerFactory>();

// Registered when a test file imports the harness (collection time): vitest ignores an
// afterAll registered from inside a hook, where most suites call useServers(), and the
// servers of those suites were left running after the file.
afterAll(async () => {
  const all = [...inUse];
  inUse.clear();
  await Promise.all(all.map((s) => s.close()));
});

/** createServers() plus cleanup after the test file, whether its tests passed or not. */
export async function useServers(): Promise<ServerFactory> {
  const servers = await createServers();
  inUse.add(servers);
  return servers;
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes (then throws its last state). */
export async function eventually<T>(fn: () => Promise<T> | T, timeoutMs = 10_000, intervalMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
