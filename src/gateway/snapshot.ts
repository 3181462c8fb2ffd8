import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { GatewayConfig } from '../core/model/index.js';

export interface SnapshotFile {
  saved_at: string;
  config: GatewayConfig;
}

/** Last-known-good config on disk, written atomically (temp file + rename) so a crash never leaves half a file. */
export function writeSnapshot(file: string, config: GatewayConfig): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ saved_at: new Date().toISOString(), config } satisfies SnapshotFile));
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
