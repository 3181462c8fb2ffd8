import type { Command } from '../command.js';

export const upCommand: Command = {
  name: 'up',
  summary: 'the whole local multi-region cluster on loopback',
  help: 'meridian up: the whole local multi-region cluster (issue #8)\n',
  run: async () => {
    process.stderr.write('meridian up: not built yet (issue #8)\n');
    return 1;
  },
};

export const downCommand: Command = {
  name: 'down',
  summary: 'stop a cluster started with `meridian up --detach`',
  help: 'meridian down: stop a detached local cluster (issue #8)\n',
  run: async () => {
    process.stderr.write('meridian down: not built yet (issue #8)\n');
    return 1;
  },
};
