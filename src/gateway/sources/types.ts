import type { Lifecycle } from '../../core/lifecycle.js';

/** Where the data-plane config comes from; it hands over raw snapshots, the primary validates them. */
export interface ConfigSource extends Lifecycle {
  readonly kind: 'file' | 'etcd';
  /** Also names the source in refusals ("the config file x", "the etcd prefix y"). */
  readonly description: string;
  /**
   * Called with every new raw snapshot (already debounced); `undefined` when the source holds
   * nothing at all (a 0-byte or comment-only file, an etcd prefix without a key).
   */
  onSnapshot(fn: (raw: unknown) => void): void;
  /** Called when the source cannot be read (etcd down, bad YAML); the last good config keeps serving. */
  onError(fn: (reason: string) => void): void;
  /** True while the source can be read: the file reads and parses, etcd answers. */
  readonly connected: boolean;
}
