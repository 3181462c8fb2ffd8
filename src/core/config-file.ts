import { readFileSync } from 'node:fs';
import type { Static, TSchema } from '@sinclair/typebox';
import { parse as parseYaml } from 'yaml';
import { MeridianError } from './errors/index.js';
import { validate } from './validate.js';

/** Environment overrides: MERIDIAN__ETCD__ENDPOINTS='["http://127.0.0.1:2379"]' sets etcd.endpoints. */
export const ENV_PREFIX = 'MERIDIAN__';

interface SchemaNode {
  type?: unknown;
  properties?: Record<string, SchemaNode>;
  anyOf?: SchemaNode[];
  const?: unknown;
}

/** The schema of the field at `path`, when the schema says (objects only). */
function fieldSchema(schema: SchemaNode | undefined, path: string[]): SchemaNode | undefined {
  let node = schema;
  for (const part of path) node = node?.properties?.[part];
  return node;
}

function wantsString(node: SchemaNode | undefined): boolean {
  if (!node) return false;
  if (node.type === 'string') return true;
  if (node.anyOf) return node.anyOf.every((n) => n.type === 'string' || typeof n.const === 'string');
  return false;
}

/** JSON when it parses, except for string fields: there `127.60` stays the text it was. */
function parseEnvValue(raw: string, field: SchemaNode | undefined): unknown {
  if (wantsString(field)) return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

export function applyEnvOverrides(config: Record<string, unknown>, env: NodeJS.ProcessEnv, schema?: TSchema): Record<string, unknown> {
  const out = structuredClone(config);
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const path = name.slice(ENV_PREFIX.length).split('__').map((p) => p.toLowerCase());
    if (path.some((p) => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype')) {
      throw new MeridianError('MERIDIAN_ERR_CONFIG_ENV', { name, reason: 'malformed name (use MERIDIAN__SECTION__KEY)' });
    }
    let node: Record<string, unknown> = out;
    for (const part of path.slice(0, -1)) {
      const next = node[part];
      if (next === undefined) node[part] = {};
      else if (typeof next !== 'object' || next === null || Array.isArray(next)) {
        throw new MeridianError('MERIDIAN_ERR_CONFIG_ENV', { name, reason: `${part} is not an object` });
      }
      node = node[part] as Record<string, unknown>;
    }
    node[path[path.length - 1] as string] = parseEnvValue(raw, fieldSchema(schema as SchemaNode | undefined, path));
  }
  return out;
}

/** The YAML document of a file, or undefined when it holds none (0 bytes, blank, comments only). */
export function readYamlDocument(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new MeridianError('MERIDIAN_ERR_CONFIG_FILE', { file, reason: e.code === 'ENOENT' ? 'no such file' : e.message });
  }
  try {
    return parseYaml(text) ?? undefined;
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0] ?? 'parse error';
    throw new MeridianError('MERIDIAN_ERR_CONFIG_YAML', { file, reason });
  }
}

/** A YAML file's document; an empty file is an empty mapping. */
export function readYamlFile(file: string): unknown {
  return readYamlDocument(file) ?? {};
}

/** YAML file (optional) + environment overrides, with defaults, validated strictly. */
export function loadConfig<T extends TSchema>(schema: T, file: string | undefined, env: NodeJS.ProcessEnv = process.env): Static<T> {
  const base = file === undefined ? {} : readYamlFile(file);
  if (typeof base !== 'object' || base === null || Array.isArray(base)) {
    throw new MeridianError('MERIDIAN_ERR_CONFIG_INVALID', { field: 'config', reason: `must be a mapping, got ${Array.isArray(base) ? 'array' : typeof base}` });
  }
  return validate(schema, applyEnvOverrides(base as Record<string, unknown>, env, schema));
}
