import type { Duplex } from 'node:stream';
import type { GatewayRequest } from '../plugins/index.js';
import { UpgradeRequest } from '../proxy/websocket.js';
import type { WorkerContext } from './handler.js';
import { serve } from './lifecycle.js';

export interface UpgradeLimits {
  /** Cap of an upstream's answer head (the listener's max header bytes). */
  readonly maxHeadBytes: number;
}

/**
 * Upgrade requests (WebSocket): served by the same lifecycle as any request (lifecycle.ts:
 * checked, routed, split and hashed alike, the plugins' request phases run, so an auth plugin
 * guards a socket as it guards a request); only the upstream's 101 makes the connection a
 * tunnel (src/proxy/websocket.ts).
 */
export function createUpgradeHandler(w: WorkerContext, proto: 'http' | 'https', limits: UpgradeLimits): (req: GatewayRequest, socket: Duplex, head: Buffer) => void {
  return function onUpgrade(req, socket, head) {
    socket.on('error', () => socket.destroy());
    serve(w, new UpgradeRequest(w, { req, socket, head }, limits.maxHeadBytes), proto);
  };
}
