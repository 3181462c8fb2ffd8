import { readFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';
import type { ResourceKind } from '../../src/core/model/index.js';
import { MeridianError } from '../../src/core/errors/index.js';
import { APPLY_ORDER, keyOf, kindFromName } from './kinds.js';

export interface ManifestItem {
  kind: ResourceKind;
  id: string;
  spec: Record<string, unknown>;
  index: number;
}

/**
 * Multi-document YAML, each `{kind, spec}` (plus `metadata`, which is the server's — revision,
 * a binding's CNAME — and ignored), sorted so that referenced resources come first.
 */
export function readManifest(file: string): ManifestItem[] {
  let text: string;
  try {
    text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (err) {
    throw new MeridianError('MERIDIAN_ERR_CONTROLLER_CTL_FILE', { file, index: 0, reason: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message });
  }
  const items: ManifestItem[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    const index = i + 1;
    const bad = (reason: string) => new MeridianError('MERIDIAN_ERR_CONTROLLER_CTL_FILE', { file, index, reason });
    if (doc.errors.length > 0) throw bad(`invalid YAML: ${doc.errors[0]?.message.split('\n')[0] ?? ''}`);
    const data = doc.toJS() as unknown;
    if (data === null || data === undefined) return;
    if (typeof data !== 'object' || Array.isArray(data)) throw bad('must be a mapping with kind and spec');
    const { kind: kindName, spec, metadata: _metadata, ...rest } = data as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw bad(`unknown key ${Object.keys(rest)[0]} (only kind, spec and metadata)`);
    if (typeof kindName !== 'string') throw bad('kind is required');
    const kind = kindFromName(kindName);
    if (!kind) throw bad(`unknown kind ${kindName}`);
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw bad('spec must be a mapping');
    const id = keyOf(kind, spec as Record<string, unknown>);
    if (!id) throw bad(`spec needs its ${kind} key`);
    items.push({ kind, id, spec: spec as Record<string, unknown>, index });
  });
  return items.sort((a, b) => APPLY_ORDER.indexOf(a.kind) - APPLY_ORDER.indexOf(b.kind) || a.index - b.index);
}

/** The kind as manifests name it: `route`, `global_rule` (kindFromName reads it back). */
export function manifestKind(kind: ResourceKind): string {
  return kind === 'ssl' ? 'ssl' : kind.replace(/s$/, '');
}

/** One resource as a manifest document `apply -f` takes unchanged; metadata is read-only information. */
export function manifest(kind: ResourceKind, spec: unknown, metadata?: Record<string, unknown>): Record<string, unknown> {
  return { kind: manifestKind(kind), ...(metadata ? { metadata } : {}), spec };
}

/** Documents as multi-document YAML: one per resource, separated by `---`. */
export function manifestsYaml(docs: Array<Record<string, unknown>>): string {
  return docs.map((d) => stringify(d)).join('---\n');
}
