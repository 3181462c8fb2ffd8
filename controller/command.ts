import { programCommand } from '../src/core/command.js';
import { ControllerProgramConfig } from './config.js';
import { Controller } from './controller.js';

export const controllerCommand = programCommand({
  name: 'controller',
  summary: 'central control plane: admin API, reconciler, Consul watch -> purge, deploys',
  schema: ControllerProgramConfig,
  helpExtra: `
Config (YAML): listen (default 127.0.0.1:9180), etcd.endpoints (central etcd), tokens
[{name, sha256, role: read|write|admin}], zone, gateway_admin_token, leader.ttl_s,
reconcile.*, purge.*, deploy.* — see controller/README.md.
`,
  start: async (config) => {
    const controller = new Controller(config);
    await controller.start();
    // Runs until SIGTERM/SIGINT; a clean stop resigns leadership so a follower takes over at once.
    return new Promise<number>((resolve) => {
      const shutdown = () => {
        controller.stop().then(() => resolve(0), () => resolve(1));
      };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
    });
  },
});
