import { programCommand } from '../src/cli/command.js';
import { ProberProgramConfig } from './config.js';

export const proberCommand = programCommand({
  name: 'prober',
  summary: 'probes every gateway node of its region, writes observations to etcd',
  schema: ProberProgramConfig,
  start: async () => {
    process.stderr.write('meridian prober: not built yet (issue #7)\n');
    return 1;
  },
});
