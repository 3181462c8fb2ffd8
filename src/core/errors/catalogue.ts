/**
 * The one error catalogue. Codes are stable (`MERIDIAN_ERR_<AREA>_<DETAIL>`); each has a
 * message template (`{name}` placeholders) and the HTTP status it maps to. Areas add their
 * entries in their own file under this folder and are merged into CATALOGUE below, so a code
 * is defined once and a duplicate code fails at load time.
 */
export interface ErrorSpec {
  readonly message: string;
  readonly status: number;
}

export type ErrorTable = Readonly<Record<string, ErrorSpec>>;

export function defineErrors<T extends ErrorTable>(area: string, table: T): T {
  for (const code of Object.keys(table)) {
    if (!code.startsWith(`MERIDIAN_ERR_${area}_`)) {
      throw new Error(`error code ${code} must start with MERIDIAN_ERR_${area}_`);
    }
  }
  return table;
}
