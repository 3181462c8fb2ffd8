import { defineConfig } from 'vitest/config';

// Integration suites start real Consul/etcd/Redis; on 2 cores run two files at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    globalSetup: ['test/harness/global-setup.ts'],
  },
});
