import type { Static, TSchema } from '@sinclair/typebox';
import { Value, type ValueError } from '@sinclair/typebox/value';
import { MeridianError } from './errors/index.js';

/** `/routes/0/uri` -> `routes[0].uri`; the root is named by `root`. */
export function fieldName(path: string, root = 'config'): string {
  if (path === '' || path === '/') return root;
  let out = '';
  for (const raw of path.slice(1).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function expectedOf(schema: TSchema): string {
  const s = schema as { type?: unknown; enum?: unknown[]; const?: unknown; anyOf?: TSchema[] };
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return `one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if (Array.isArray(s.anyOf)) {
    const consts = s.anyOf.map((x) => (x as { const?: unknown }).const);
    if (consts.every((c) => c !== undefined)) return `one of ${consts.map((c) => JSON.stringify(c)).join(', ')}`;
  }
  if (typeof s.type === 'string') return s.type === 'integer' ? 'an integer' : s.type === 'array' ? 'an array' : s.type === 'object' ? 'an object' : `a ${s.type}`;
  return 'a valid value';
}

/** One readable sentence per TypeBox error: what is wrong with the field, never a stack. */
export function explain(error: ValueError, root = 'config'): { field: string; reason: string } {
  const field = fieldName(error.path, root);
  const s = error.schema as Record<string, unknown>;
  const msg = error.message;
  if (msg === 'Unexpected property') return { field, reason: 'unknown key' };
  if (msg === 'Expected required property') return { field, reason: 'is required' };
  if (/^Expected (string|number|integer|boolean|object|array|null)$/.test(msg) || msg === 'Expected union value' || msg.startsWith('Expected value of')) {
    if (error.value === undefined) return { field, reason: 'is required' };
    return { field, reason: `must be ${expectedOf(error.schema)}, got ${describe(error.value)} ${JSON.stringify(error.value)}`.trim() };
  }
  if (msg.startsWith('Expected string length greater or equal')) return { field, reason: `must be at least ${String(s.minLength)} characters` };
  if (msg.startsWith('Expected string length less or equal')) return { field, reason: `must be at most ${String(s.maxLength)} characters` };
  if (msg.startsWith('Expected string to match')) return { field, reason: `${JSON.stringify(error.value)} does not match ${String(s.pattern)}` };
  if (msg.startsWith('Expected number to be greater or equal') || msg.startsWith('Expected integer to be greater or equal')) return { field, reason: `must be >= ${String(s.minimum)}, got ${String(error.value)}` };
  if (msg.startsWith('Expected number to be less or equal') || msg.startsWith('Expected integer to be less or equal')) return { field, reason: `must be <= ${String(s.maximum)}, got ${String(error.value)}` };
  if (msg.startsWith('Expected array length greater or equal') || msg.startsWith('Expected array length to be greater or equal')) return { field, reason: `must have at least ${String(s.minItems)} item(s)` };
  if (msg.startsWith('Expected array length less or equal') || msg.startsWith('Expected array length to be less or equal')) return { field, reason: `must have at most ${String(s.maxItems)} item(s)` };
  if (msg.startsWith('Expected array elements to be unique')) return { field, reason: 'must not repeat items' };
  if (msg.startsWith('Expected number to be greater than') || msg.startsWith('Expected integer to be greater than')) return { field, reason: `must be > ${String(s.exclusiveMinimum)}, got ${String(error.value)}` };
  if (msg.startsWith('Expected number to be less than') || msg.startsWith('Expected integer to be less than')) return { field, reason: `must be < ${String(s.exclusiveMaximum)}, got ${String(error.value)}` };
  return { field, reason: msg.charAt(0).toLowerCase() + msg.slice(1) };
}

/** The most useful of several errors: unknown keys and missing fields before type noise. */
function firstError(errors: ValueError[]): ValueError | undefined {
  const rank = (e: ValueError): number =>
    e.message === 'Unexpected property' ? 0 : e.message === 'Expected required property' ? 1 : e.message === 'Expected union value' ? 3 : 2;
  // Deeper paths are more precise than a union's summary at the parent.
  return [...errors].sort((a, b) => rank(a) - rank(b) || b.path.split('/').length - a.path.split('/').length)[0];
}

/** A failure names the field (`root` for the input as a whole) and its TypeBox path ('' = the whole input). */
export type Validated<T extends TSchema> = { ok: true; value: Static<T> } | { ok: false; field: string; reason: string; path: string };

/** Defaults first (stated in the schema), then a strict check; the input is not modified. */
export function check<T extends TSchema>(schema: T, input: unknown, root = 'config'): Validated<T> {
  const value = Value.Default(schema, structuredClone(input));
  if (Value.Check(schema, value)) return { ok: true, value: value as Static<T> };
  const err = firstError([...Value.Errors(schema, value)]);
  if (!err) return { ok: false, field: root, reason: 'is invalid', path: '' };
  return { ok: false, ...explain(err, root), path: err.path };
}

/** Like check(), but throws MERIDIAN_ERR_CONFIG_INVALID naming the field and the reason. */
export function validate<T extends TSchema>(schema: T, input: unknown, root = 'config'): Static<T> {
  const result = check(schema, input, root);
  if (!result.ok) throw new MeridianError('MERIDIAN_ERR_CONFIG_INVALID', { field: result.field, reason: result.reason });
  return result.value;
}
