// The JSON Schemas the API validates with, as the controller publishes them in its OpenAPI
// document (components.schemas, generated from src/core/model): the forms are built from them at
// run time, so a field added to the model appears in the console without a console change.
import { ApiError, api } from './api';

export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  patternProperties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  pattern?: string;
}

let schemas: Promise<Record<string, JsonSchema>> | undefined;

/** The named schema (`Route`, `Upstream`, ...) of the OpenAPI document, fetched once per tab. */
export async function resourceSchema(name: string): Promise<JsonSchema> {
  schemas ??= api<{ components: { schemas: Record<string, JsonSchema> } }>('GET', '/openapi.json').then((d) => d.components.schemas);
  schemas.catch(() => (schemas = undefined));
  const s = (await schemas)[name];
  if (!s) throw new ApiError(500, 'CONSOLE_NO_SCHEMA', `the controller's OpenAPI document has no schema ${name}`);
  return s;
}

/** How the form shows a schema; `yaml` is the fallback (free-form maps, unions of shapes). */
export type Widget = 'object' | 'array' | 'select' | 'text' | 'number' | 'boolean' | 'yaml';

/** The choices of an enum, or of a TypeBox union of literals (`anyOf: [{const}, ...]`). */
export function choices(s: JsonSchema): string[] | undefined {
  if (Array.isArray(s.enum) && s.enum.every((v) => typeof v === 'string')) return s.enum as string[];
  if (Array.isArray(s.anyOf) && s.anyOf.every((x) => typeof x.const === 'string')) return s.anyOf.map((x) => x.const as string);
  return undefined;
}

export function widgetOf(s: JsonSchema): Widget {
  if (choices(s)) return 'select';
  if (s.type === 'object' && s.properties && !s.patternProperties) return 'object';
  if (s.type === 'array' && s.items && widgetOf(s.items) !== 'yaml') return 'array';
  if (s.type === 'string') return 'text';
  if (s.type === 'integer' || s.type === 'number') return 'number';
  if (s.type === 'boolean') return 'boolean';
  return 'yaml';
}

/** A field's path as the API's errors name it (`field`): `nodes[0].port`, `plugins.key-auth.key`. */
export const childPath = (parent: string, key: string | number): string =>
  typeof key === 'number' ? `${parent}[${key}]` : parent === '' ? key : `${parent}.${key}`;

function segments(field: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : (m[1] as string));
  return out;
}

/**
 * The form field an API error naming `field` belongs at: the field itself, or the nearest one
 * the form renders above it (a plugin's config inside the YAML box of `plugins`); '' = the form.
 */
export function errorTarget(root: JsonSchema, field: string): string {
  let s: JsonSchema | undefined = root;
  let at = '';
  for (const seg of segments(field)) {
    const w: Widget = widgetOf(s);
    const next: JsonSchema | undefined = w === 'object' && typeof seg === 'string' ? s.properties?.[seg] : w === 'array' && typeof seg === 'number' ? s.items : undefined;
    if (!next) return at;
    s = next;
    at = childPath(at, seg);
  }
  return at;
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value without the keys a form left empty (undefined), as the API should receive it. */
export function prune(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(prune);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = prune(x);
    return out;
  }
  return v;
}
