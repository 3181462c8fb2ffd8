import type { Lifecycle } from '../../core/lifecycle.js';

/** Where the data-plane config comes from; it hands over raw snapshots, the primary validates them. */
export interface ConfigSource extends Lifecycle {
  readonly kind: 'file' | 'etcd';
  /** Called with every new raw snapshot (already debounced). */
  onSnapshot(fn: (raw: unknown) => void): void;
  /** Called when the source cannot be read (etcd down, bad YAML); the last good config keeps serving. */
  onError(fn: (reason: string) => void): void;
  /** True once the source delivered a snapshot since it started. */
  readonly connected: boolean;
}
