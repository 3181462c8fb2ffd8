import type { Route } from '../../../src/core/model/index.js';
import type { RequestContext } from '../../../src/plugins/index.js';

/** A route for calling a compiled chain directly (no gateway). */
export function route(id: string, plugins: Record<string, unknown> = {}): Route {
  return { id, paths: ['/*'], priority: 0, enabled: true, plugins };
}

/** A bare request context for calling a chain directly (no HTTP). */
export function ctxFor(r = route('r1')): RequestContext {
  return {
    req: { headers: {}, method: 'GET', url: '/' } as RequestContext['req'],
    res: {} as RequestContext['res'],
    requestId: 'id',
    clientIp: '127.0.0.1',
    path: '/',
    route: r,
    upstreamId: 'u1',
    consumer: undefined,
    upstreamHeaders: {},
    responseHeaders: {},
    upstreamPath: '/',
    upstreamStatus: undefined,
    status: undefined,
    vars: new Map(),
    startedAt: performance.now(),
  };
}
