import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { GatewayConfig } from '../core/model/index.js';

export interface SnapshotFile {
  saved_at: string;
  config: GatewayConfig;
}

/** The node's identity, which keys the default snapshot path. */
export interface SnapshotOwner {
  region: string;
  cluster: string;
  name: string;
}

/** One path segment from a name: no separator, no `.`/`..` (names come from operators' files). */
function segment(name: string): string {
  return encodeURIComponent(name).replace(/^\.+/, (dots) => '%2E'.repeat(dots.length));
}

/**
 * `.meridian/gateway/<region>/<cluster>/<node>.snapshot.json`: node names are unique only
 * within a cluster of a region, so two regions' `gw1` on one machine must not share a file
 * (one would boot on the other's routes).
 */
export function defaultSnapshotFile(node: SnapshotOwner): string {
  return join('.meridian', 'gateway', segment(node.region), segment(node.cluster), `${segment(node.name)}.snapshot.json`);
}

/** Group and others lose every right on a path we own (a path someone else owns is left as it is). */
function tighten(path: string, mode: number): void {
  const st = statSync(path);
  if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) chmodSync(path, mode);
}

/**
 * The snapshot holds TLS private keys and consumer credentials: the folder is 0700 (created
 * so, or tightened when it is ours), the file 0600 from its creation (no window in which
 * another user could open it).
 */
export function secureSnapshotFolder(file: string): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  tighten(dir, 0o700);
}

/** JSON text of resources by object: from one config to the next the unchanged ones are the same objects. */
const resourceJson = new WeakMap<object, string>();

/**
 * JSON.stringify(config), with each resource's text made once: under route churn the primary
 * writes 10,000 routes a second, of which one changed.
 */
export function configJson(config: GatewayConfig): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    if (!Array.isArray(value)) {
      parts.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`);
      continue;
    }
    const items = value.map((item: unknown) => {
      if (typeof item !== 'object' || item === null) return JSON.stringify(item);
      let text = resourceJson.get(item);
      if (text === undefined) {
        text = JSON.stringify(item);
        resourceJson.set(item, text);
      }
      return text;
    });
    parts.push(`${JSON.stringify(key)}:[${items.join(',')}]`);
  }
  return `{${parts.join(',')}}`;
}

/** Last-known-good config on disk, written atomically (temp file + fsync + rename) so a crash never leaves half a file. */
export function writeSnapshot(file: string, config: GatewayConfig): void {
  secureSnapshotFolder(file);
  const tmp = `${file}.${process.pid}.tmp`;
  // A temp file left by a crash may have other modes: it is replaced, never reused.
  try {
    unlinkSync(tmp);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeFileSync(fd, `{"saved_at":${JSON.stringify(new Date().toISOString())},"config":${configJson(config)}}`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** The saved snapshot, or undefined when there is none or it cannot be read. */
export function readSnapshot(file: string): SnapshotFile | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<SnapshotFile>;
    return parsed.config ? (parsed as SnapshotFile) : undefined;
  } catch {
    return undefined;
  }
}

/** A snapshot file (and folder) written by an older version with wider modes is made private at boot. */
export function tightenSnapshot(file: string): void {
  secureSnapshotFolder(file);
  try {
    tighten(file, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
