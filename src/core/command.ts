import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { TSchema, Static } from '@sinclair/typebox';
import { loadConfig } from './config-file.js';
import { MeridianError } from './errors/index.js';

/** One `meridian <name>` subcommand. `run` returns the exit code. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Full --help text. */
  readonly help: string;
  run(argv: string[]): Promise<number>;
}

export type ParsedArgs<O extends NonNullable<ParseArgsConfig['options']>> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>;

/** Strict option parsing: an unknown option is a usage error (exit 2), not a surprise. */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig['options']>>(command: string, argv: string[], options: O): ParsedArgs<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new MeridianError('MERIDIAN_ERR_CLI_USAGE', { command, reason: (err as Error).message.split('\n')[0] ?? 'bad arguments' });
  }
}

/** Options every program accepts. */
export const PROGRAM_OPTIONS = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function programHelp(name: string, summary: string, extra = ''): string {
  return `meridian ${name}: ${summary}

Usage: meridian ${name} [-c FILE]

Options:
  -c, --config FILE  YAML config file (see the schema in docs/config.md)
  -h, --help         this text
${extra}
Environment overrides: MERIDIAN__SECTION__KEY=value sets section.key (values are JSON when
they parse as JSON, else strings), e.g. MERIDIAN__ETCD__ENDPOINTS='["http://127.0.0.1:2379"]'.
`;
}

/**
 * The shape of every program command: parse -c, load and validate its config, run it.
 * `start` resolves when the program has stopped (after SIGTERM/SIGINT) with its exit code.
 */
export function programCommand<S extends TSchema>(spec: {
  name: string;
  summary: string;
  schema: S;
  helpExtra?: string;
  start: (config: Static<S>, configFile: string | undefined) => Promise<number>;
}): Command {
  const help = programHelp(spec.name, spec.summary, spec.helpExtra);
  return {
    name: spec.name,
    summary: spec.summary,
    help,
    async run(argv) {
      const args = parseCommandArgs(spec.name, argv, PROGRAM_OPTIONS);
      if (args.values.help) {
        process.stdout.write(help);
        return 0;
      }
      const config = loadConfig(spec.schema, args.values.config);
      return spec.start(config, args.values.config);
    },
  };
}

/** Resolves on the first SIGTERM/SIGINT (a program's `start` then stops what it runs). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
