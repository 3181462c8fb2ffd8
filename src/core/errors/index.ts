import type { ErrorSpec, ErrorTable } from './catalogue.js';
import { AREA_TABLES } from './areas.js';

export type { ErrorSpec, ErrorTable } from './catalogue.js';
export { defineErrors } from './catalogue.js';

function merge(...tables: ErrorTable[]): Record<string, ErrorSpec> {
  const out: Record<string, ErrorSpec> = {};
  for (const table of tables) {
    for (const [code, spec] of Object.entries(table)) {
      if (code in out) throw new Error(`duplicate error code ${code}`);
      out[code] = spec;
    }
  }
  return out;
}

export const CATALOGUE: Readonly<Record<string, ErrorSpec>> = merge(...AREA_TABLES);

export type ErrorParams = Readonly<Record<string, string | number>>;

export function formatMessage(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

export interface ErrorOptions {
  cause?: unknown;
  /**
   * The field of the input the error is about, if one: its path as the messages write it, dots
   * between keys and `[n]` for array items (`nodes[0].port`, `plugins.key-auth.key`), relative
   * to the body (the resource) itself; keys are written as they are.
   */
  field?: string;
}

/** The JSON body every HTTP surface answers with; `field` only when the error is about one. */
export interface ErrorBody {
  code: string;
  message: string;
  field?: string;
}

/** An error from the catalogue: stable code, rendered message, HTTP status, and the field it is about if one. */
export class MeridianError extends Error {
  readonly code: string;
  readonly status: number;
  readonly params: ErrorParams;
  readonly field: string | undefined;

  constructor(code: string, params: ErrorParams = {}, options: ErrorOptions = {}) {
    const spec = CATALOGUE[code];
    if (!spec) throw new Error(`unknown error code ${code}`);
    super(formatMessage(spec.message, params), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MeridianError';
    this.code = code;
    this.status = spec.status;
    this.params = params;
    this.field = options.field;
  }

  toJSON(): ErrorBody {
    return { code: this.code, message: this.message, ...(this.field !== undefined ? { field: this.field } : {}) };
  }
}

export function isMeridianError(err: unknown, code?: string): err is MeridianError {
  return err instanceof MeridianError && (code === undefined || err.code === code);
}
