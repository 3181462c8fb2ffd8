import type { UpstreamNode } from '../core/model/index.js';

/**
 * Where an upstream's nodes come from: static config, or Consul discovery (src/discovery).
 * `current()` is read on the hot path and must never wait: a source serves what it has and
 * refreshes in the background. `subscribe` is told whenever the node list changes.
 */
export interface NodeSource {
  current(): readonly UpstreamNode[];
  subscribe(onChange: (nodes: readonly UpstreamNode[]) => void): () => void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Nodes fixed in config. */
export class StaticNodeSource implements NodeSource {
  private readonly nodes: readonly UpstreamNode[];
  constructor(nodes: readonly UpstreamNode[]) {
    this.nodes = nodes;
  }
  current(): readonly UpstreamNode[] {
    return this.nodes;
  }
  subscribe(): () => void {
    return () => undefined;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}
