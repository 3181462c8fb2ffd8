import type { GatewayConfig } from '../core/model/index.js';
import type { ConfigPatch } from './config-patch.js';
import type { NodeStatus } from '../upstream/runtime.js';

import type { PurgeRequest } from '../discovery/index.js';

/** What a purge asks for: the admin body, checked with the discovery module's schema. */
export type PurgeFilter = PurgeRequest;

/** Primary -> worker. */
export type ToWorker =
  | { type: 'meridian:config'; config: GatewayConfig }
  /** The change since the config this worker received last (messages arrive in order). */
  | { type: 'meridian:config-patch'; patch: ConfigPatch }
  | { type: 'meridian:purge'; id: number; filter: PurgeFilter }
  | { type: 'meridian:status'; id: number }
  /** Grace period begins: answer with Connection: close so clients move away. */
  | { type: 'meridian:draining' }
  /** Stop accepting, finish in-flight requests, exit. */
  | { type: 'meridian:stop'; timeoutMs: number };

export interface WorkerStatus {
  pid: number;
  revision: number | undefined;
  routes: number;
  build_ms: number | undefined;
  draining: boolean;
  /** Resident set and V8 heap in use, MB. */
  memory_mb: { rss: number; heap_used: number };
  upstreams: Record<string, NodeStatus[]>;
}

/** Worker -> primary. */
export type FromWorker =
  | { type: 'meridian:ready' }
  /** A patch did not apply: send the whole config. */
  | { type: 'meridian:resync' }
  | { type: 'meridian:applied'; revision: number; routes: number; buildMs: number }
  | { type: 'meridian:rejected'; revision: number; reason: string }
  | { type: 'meridian:purged'; id: number; error?: string }
  | { type: 'meridian:status'; id: number; status: WorkerStatus };

export function isMeridianMessage(m: unknown): m is { type: string } {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && (m as { type: string }).type.startsWith('meridian:');
}
