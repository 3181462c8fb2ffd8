import cluster from 'node:cluster';
import { programCommand } from '../core/command.js';
import { createLogger } from '../core/logger.js';
import { GatewayProgramConfig } from './config.js';
import { GatewayPrimary } from './primary.js';
import { runClusterWorker } from './worker.js';
import { discoveryHooks } from './discovery-hooks.js';

export const gatewayCommand = programCommand({
  name: 'gateway',
  summary: 'regional data-plane node: route, run plugins, resolve upstreams, proxy',
  schema: GatewayProgramConfig,
  helpExtra: '\nSee src/gateway/README.md for the config (every default), admin endpoints and metrics.\n',
  start: async (config) => {
    // The same command runs in the primary and in each node:cluster worker it forks.
    if (cluster.isWorker) {
      const code = await runClusterWorker(config, discoveryHooks(config));
      setTimeout(() => process.exit(code), 50).unref();
      return code;
    }
    const code = await new GatewayPrimary(config, createLogger('gateway')).run();
    // Open handles (etcd client internals) must not keep a drained node alive.
    setTimeout(() => process.exit(code), 100).unref();
    return code;
  },
});
