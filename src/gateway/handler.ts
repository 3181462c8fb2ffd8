import type { Logger } from '../core/logger.js';
import type { GatewayRequest, GatewayResponse } from '../plugins/index.js';
import { Exchange } from '../proxy/exchange.js';
import type { RequestEnv } from '../proxy/request.js';
import type { Runtime } from './build.js';
import { serve } from './lifecycle.js';
import type { GatewayMetrics } from './metrics.js';

/** The worker state a request reads: the current generation (one reference, swapped whole). */
export interface WorkerContext extends RequestEnv {
  runtime: Runtime | undefined;
  draining: boolean;
  readonly maxHeaders: number;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  nextRequestId(): string;
}

/** Request ids: a per-worker random prefix and a counter (unique, no crypto per request). */
export function requestIdSource(): () => string {
  const prefix = `${Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, '0')}-`;
  let seq = 0;
  return () => prefix + (seq++).toString(36);
}

/**
 * The public request handler of one listener (`proto` is what X-Forwarded-Proto says): the
 * request is an Exchange from the start (its one object), served by lifecycle.ts.
 */
export function createRequestHandler(w: WorkerContext, proto: 'http' | 'https'): (req: GatewayRequest, res: GatewayResponse) => void {
  return function onRequest(req, res) {
    serve(w, new Exchange(w, req, res), proto);
  };
}
