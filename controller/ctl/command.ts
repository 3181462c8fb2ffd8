import type { Command } from '../../src/cli/command.js';

export const ctlCommand: Command = {
  name: 'ctl',
  summary: 'operator CLI over the controller API',
  help: 'meridian ctl: operator CLI over the controller API (issue #6)\n',
  run: async () => {
    process.stderr.write('meridian ctl: not built yet (issue #6)\n');
    return 1;
  },
};
