import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { KeyType, keyCheck, limitKey } from './shared/limit-key.js';
import { limitRejected } from './shared/metrics.js';
import { deny } from './shared/respond.js';

export const LimitConnConfig = Strict({
  max: Type.Integer({ minimum: 1, description: 'concurrent requests per key in this worker (required)' }),
  key_type: KeyType,
  header: Type.Optional(Type.String({ minLength: 1 })),
  group: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]+$' })),
});
export type LimitConnConfig = Static<typeof LimitConnConfig>;

const inFlight = new Map<string, number>();

export function current(key: string): number {
  return inFlight.get(key) ?? 0;
}

function access(ctx: RequestContext, cfg: LimitConnConfig): ShortCircuit | undefined {
  const key = limitKey(ctx, cfg);
  const n = inFlight.get(key) ?? 0;
  if (n >= cfg.max) {
    limitRejected.inc({ plugin: 'limit-conn', route: ctx.route.id });
    return deny('MERIDIAN_ERR_PLUGIN_TOO_MANY_CONNECTIONS');
  }
  inFlight.set(key, n + 1);
  // 'close' fires once per response whatever happened (sent, short-circuited later, client gone),
  // so the slot is always given back, even if the log phase never runs.
  ctx.res.once('close', () => {
    const left = (inFlight.get(key) ?? 1) - 1;
    if (left <= 0) inFlight.delete(key);
    else inFlight.set(key, left);
  });
  return undefined;
}

/** limit-conn: concurrent requests per key, per worker. */
export const limitConn: Plugin<LimitConnConfig> = {
  name: 'limit-conn',
  version: '1.0.0',
  priority: 1003,
  schema: LimitConnConfig,
  check: keyCheck,
  phases: { access },
  close: () => inFlight.clear(),
};
