import { programCommand } from '../src/cli/command.js';
import { DnsProgramConfig } from './config.js';

export const dnsCommand = programCommand({
  name: 'dns',
  summary: 'authoritative DNS for the gateway zone: nearest healthy region, failover',
  schema: DnsProgramConfig,
  start: async () => {
    process.stderr.write('meridian dns: not built yet (issue #7)\n');
    return 1;
  },
});
