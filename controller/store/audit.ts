import { isDeepStrictEqual } from 'node:util';
import { redactSecrets } from '../../src/core/secrets.js';
import type { AuditRecord } from './resource-store.js';

/** Who asks, for the audit log. */
export interface Actor {
  name: string;
  role: string;
}

/** A value kept in an audit record is at most this many bytes of JSON; a larger one is summarised. */
export const AUDIT_VALUE_MAX_BYTES = 8_192;
/** At most this many changed fields are named per record. */
export const AUDIT_CHANGED_MAX = 50;
/** Fields nested deeper than this are named by their ancestor at this depth. */
const DIFF_DEPTH = 12;

export interface AuditChange {
  action: string;
  kind: string;
  id: string;
  /** Mod revision before the change (0 when created). */
  fromRevision: number;
  detail?: string | undefined;
  /** The stored value before the change (absent when created). */
  before?: unknown;
  /** The value after the change (absent when deleted). */
  after?: unknown;
}

/**
 * One audit record: who, what kind, and what changed. The values are kept with every secret
 * redacted (the audit log is one more copy of the config and must not become one of the
 * secrets) and bounded in size; `changed` names the fields an update touched, secrets
 * included, so a rotated secret shows as changed without showing either value.
 */
export function audit(actor: Actor, c: AuditChange): AuditRecord {
  const record: AuditRecord = { at: new Date().toISOString(), who: actor.name, role: actor.role, action: c.action, kind: c.kind, id: c.id, from_revision: c.fromRevision };
  if (c.detail) record.detail = c.detail;
  if (c.before !== undefined) record.before = bounded(redactSecrets(c.kind, c.before));
  if (c.after !== undefined) record.after = bounded(redactSecrets(c.kind, c.after));
  if (c.before !== undefined && c.after !== undefined) record.changed = changedFields(c.before, c.after);
  return record;
}

function bounded(value: unknown): unknown {
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? '');
  return bytes <= AUDIT_VALUE_MAX_BYTES ? value : `<omitted: ${bytes} bytes, over the ${AUDIT_VALUE_MAX_BYTES}-byte audit limit>`;
}

/** `nodes[0].port`-style names of the fields that differ, at most AUDIT_CHANGED_MAX (then a count of the rest). */
export function changedFields(before: unknown, after: unknown): string[] {
  const out: string[] = [];
  let more = 0;
  const add = (path: string) => {
    if (out.length < AUDIT_CHANGED_MAX) out.push(path === '' ? '(value)' : path);
    else more++;
  };
  const walk = (a: unknown, b: unknown, path: string, depth: number): void => {
    if (isDeepStrictEqual(a, b)) return;
    const bothArrays = Array.isArray(a) && Array.isArray(b);
    const bothObjects = isObject(a) && isObject(b);
    if (depth >= DIFF_DEPTH || !(bothArrays || bothObjects)) return add(path);
    if (bothArrays) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], `${path}[${i}]`, depth + 1);
      return;
    }
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    for (const k of new Set([...Object.keys(ra), ...Object.keys(rb)])) walk(ra[k], rb[k], path === '' ? k : `${path}.${k}`, depth + 1);
  };
  walk(before, after, '', 0);
  if (more > 0) out.push(`(and ${more} more)`);
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
