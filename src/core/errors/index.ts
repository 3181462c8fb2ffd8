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

/** An error from the catalogue: stable code, rendered message, HTTP status. */
export class MeridianError extends Error {
  readonly code: string;
  readonly status: number;
  readonly params: ErrorParams;

  constructor(code: string, params: ErrorParams = {}, options?: { cause?: unknown }) {
    const spec = CATALOGUE[code];
    if (!spec) throw new Error(`unknown error code ${code}`);
    super(formatMessage(spec.message, params), options);
    this.name = 'MeridianError';
    this.code = code;
    this.status = spec.status;
    this.params = params;
  }

  /** The JSON body every HTTP surface answers with. */
  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isMeridianError(err: unknown, code?: string): err is MeridianError {
  return err instanceof MeridianError && (code === undefined || err.code === code);
}
