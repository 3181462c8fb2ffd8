import { programCommand } from '../src/cli/command.js';
import { ControllerProgramConfig } from './config.js';

export const controllerCommand = programCommand({
  name: 'controller',
  summary: 'central control plane: admin API, reconciler, Consul watch -> purge, deploys',
  schema: ControllerProgramConfig,
  start: async () => {
    process.stderr.write('meridian controller: not built yet (issue #6)\n');
    return 1;
  },
});
