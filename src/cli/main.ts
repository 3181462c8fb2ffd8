#!/usr/bin/env node
import { isMeridianError } from '../core/errors/index.js';
import type { Command } from '../core/command.js';

/** Subcommands, loaded on demand so `meridian dns` never loads the gateway. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  gateway: { summary: 'regional data-plane node: route, run plugins, proxy', load: async () => (await import('../gateway/command.js')).gatewayCommand },
  controller: { summary: 'central control plane: admin API, reconciler, purge, deploys', load: async () => (await import('../../controller/command.js')).controllerCommand },
  dns: { summary: 'authoritative DNS for the gateway zone with failover', load: async () => (await import('../../dns/command.js')).dnsCommand },
  prober: { summary: 'probes every gateway node of its region', load: async () => (await import('../../health/command.js')).proberCommand },
  up: { summary: 'the whole local multi-region cluster on loopback', load: async () => (await import('./up/command.js')).upCommand },
  down: { summary: 'stop a cluster started with `meridian up --detach`', load: async () => (await import('./up/command.js')).downCommand },
  ctl: { summary: 'operator CLI over the controller API', load: async () => (await import('../../controller/ctl/command.js')).ctlCommand },
};

export function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `meridian: multi-region API gateway cluster

Usage: meridian <command> [options]    (meridian <command> --help for each)

Commands:
${lines.join('\n')}
`;
}

/** Runs a subcommand; errors become one line on stderr and an exit code, never a stack. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`meridian: unknown command "${name}"\n${mainHelp()}`);
    return 2;
  }
  try {
    const command = await entry.load();
    return await command.run(rest);
  } catch (err) {
    if (isMeridianError(err)) {
      process.stderr.write(`${err.message} [${err.code}]\n`);
      // Bad input (config, usage) is exit 2; anything else is a runtime failure.
      return err.status === 400 || err.code.startsWith('MERIDIAN_ERR_CONFIG_') || err.code === 'MERIDIAN_ERR_CLI_USAGE' ? 2 : 1;
    }
    process.stderr.write(`meridian ${name}: ${(err as Error).message ?? String(err)}\n`);
    if (process.env.MERIDIAN_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return 1;
  }
}

// Run when executed directly (bin or `node dist/src/cli/main.js`), not when imported by a test.
const invoked = process.argv[1] ?? '';
if (/cli[\\/]main\.(js|ts)$/.test(invoked) || invoked.endsWith('/meridian')) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`meridian: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
