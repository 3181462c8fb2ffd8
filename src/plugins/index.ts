import type { Plugin } from './contract.js';
import { PluginRegistry } from './chain.js';
import { requestId } from './request-id.js';
import { cors } from './cors.js';
import { ipRestriction } from './ip-restriction.js';
import { hmacAuth } from './hmac-auth.js';
import { basicAuth } from './basic-auth.js';
import { jwtAuth } from './jwt-auth.js';
import { keyAuth } from './key-auth.js';
import { limitCount } from './limit-count.js';
import { circuitBreaker } from './circuit-breaker.js';
import { adaptiveThrottle } from './adaptive-throttle.js';
import { prometheus } from './prometheus.js';
import { antiReplay } from './anti-replay.js';
import { limitReq } from './limit-req.js';
import { limitConn } from './limit-conn.js';
import { proxyRewrite } from './proxy-rewrite.js';
import { responseRewrite } from './response-rewrite.js';
import { bodyLimit } from './body-limit.js';
import { proxyCache } from './proxy-cache.js';
import { proxyMirror } from './proxy-mirror.js';

export type { Plugin, PluginServices, RequestContext, ShortCircuit, Phase, BodyCapture, GatewayRequest, GatewayResponse } from './contract.js';
export { PHASES, REQUEST_PHASES, RESPONSE_PHASES } from './contract.js';
export { PluginRegistry, CompiledChain, settle, isThenable, type PluginLayers, type RequestOutcome, type MaybePromise } from './chain.js';
export { pluginMetrics } from './shared/metrics.js';

/** Every built-in plugin. Add a plugin: one module in this folder, one line here. */
export const BUILTIN_PLUGINS: readonly Plugin[] = [
  requestId as Plugin,
  cors as Plugin,
  ipRestriction as Plugin,
  hmacAuth as Plugin,
  basicAuth as Plugin,
  jwtAuth as Plugin,
  keyAuth as Plugin,
  limitCount as Plugin,
  circuitBreaker as Plugin,
  adaptiveThrottle as Plugin,
  prometheus as Plugin,
  antiReplay as Plugin,
  limitReq as Plugin,
  limitConn as Plugin,
  proxyRewrite as Plugin,
  responseRewrite as Plugin,
  bodyLimit as Plugin,
  proxyCache as Plugin,
  proxyMirror as Plugin,
];

export function builtinRegistry(): PluginRegistry {
  return new PluginRegistry(BUILTIN_PLUGINS as Plugin[]);
}
