import { programCommand } from '../cli/command.js';
import { GatewayProgramConfig } from './config.js';

export const gatewayCommand = programCommand({
  name: 'gateway',
  summary: 'regional data-plane node: route, run plugins, resolve upstreams, proxy',
  schema: GatewayProgramConfig,
  start: async () => {
    process.stderr.write('meridian gateway: not built yet (issue #3)\n');
    return 1;
  },
});
