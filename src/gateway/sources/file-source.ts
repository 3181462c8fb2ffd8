import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { readYamlDocument } from '../../core/config-file.js';
import type { ConfigSource } from './types.js';

/**
 * Standalone mode: the data-plane config from a YAML file, re-read when it changes. The
 * folder is watched, not the file, because editors and deploy tools replace files by rename.
 * An empty file is handed over as `undefined` (the primary refuses it), never as an empty config.
 */
export class FileConfigSource implements ConfigSource {
  readonly kind = 'file';
  connected = false;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private snapshotFn: (raw: unknown) => void = () => undefined;
  private errorFn: (reason: string) => void = () => undefined;
  private readonly file: string;

  constructor(file: string, private readonly debounceMs: number) {
    this.file = resolve(file);
  }

  get description(): string {
    return `the config file ${this.file}`;
  }

  onSnapshot(fn: (raw: unknown) => void): void {
    this.snapshotFn = fn;
  }

  onError(fn: (reason: string) => void): void {
    this.errorFn = fn;
  }

  private read(): void {
    let raw: unknown;
    try {
      raw = readYamlDocument(this.file);
    } catch (err) {
      this.connected = false;
      this.errorFn((err as Error).message);
      return;
    }
    this.connected = true;
    this.snapshotFn(raw);
  }

  async start(): Promise<void> {
    this.read();
    const name = basename(this.file);
    this.watcher = watch(dirname(this.file), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.read(), Math.max(this.debounceMs, 20));
    });
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
