import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Route } from './route.js';
import { Upstream } from './upstream.js';
import { Consumer, Ssl, GlobalRule, Region, VDomain, Binding, Deployment } from './resources.js';
import { Strict } from './common.js';

export * from './common.js';
export * from './route.js';
export * from './upstream.js';
export * from './resources.js';

/**
 * Every resource kind: its etcd key segment, its schema and the field that names it.
 * The controller's API, its OpenAPI document and the gateways all read this one table.
 */
export const RESOURCES = {
  routes: { schema: Route, key: 'id' },
  upstreams: { schema: Upstream, key: 'id' },
  consumers: { schema: Consumer, key: 'username' },
  ssl: { schema: Ssl, key: 'id' },
  global_rules: { schema: GlobalRule, key: 'id' },
  regions: { schema: Region, key: 'name' },
  vdomains: { schema: VDomain, key: 'uuid' },
  bindings: { schema: Binding, key: 'domain' },
  deployments: { schema: Deployment, key: 'id' },
} as const satisfies Record<string, { schema: TSchema; key: string }>;

export type ResourceKind = keyof typeof RESOURCES;

/**
 * The longest key any kind's schema allows (Id 128, a binding's domain 253). The controller's
 * API takes it as its URL parameter limit, so whatever can be created can be read, replaced
 * and deleted: one limit, stated once, in the schemas.
 */
export const RESOURCE_KEY_MAX_LENGTH: number = Math.max(
  ...Object.entries(RESOURCES).map(([kind, r]) => {
    const max = (r.schema.properties as Record<string, { maxLength?: number }>)[r.key]?.maxLength;
    if (max === undefined) throw new Error(`model: ${kind}.${r.key} needs a maxLength`);
    return max;
  }),
);
export type ResourceOf<K extends ResourceKind> = Static<(typeof RESOURCES)[K]['schema']>;

/** The data-plane config a gateway runs on: what the reconciler writes for its region. */
export const GatewayConfig = Strict({
  revision: Type.Integer({ minimum: 0, default: 0, description: 'central etcd revision this snapshot came from; a gateway refuses a config whose revision is lower than the one it serves' }),
  allow_empty: Type.Optional(Type.Boolean({
    default: false,
    description: 'a config with no routes replaces one that has routes only with allow_empty: true and a revision higher than the served one (default false: refused, the last good config keeps serving). In etcd mode the controller-written config/_revision key stands for it',
  })),
  routes: Type.Array(Route, { default: [], description: 'see the routes section' }),
  upstreams: Type.Array(Upstream, { default: [], description: 'see the upstreams section' }),
  consumers: Type.Array(Consumer, { default: [], description: 'see the consumers section' }),
  ssl: Type.Array(Ssl, { default: [], description: 'see the ssl section' }),
  global_rules: Type.Array(GlobalRule, { default: [], description: 'see the global_rules section' }),
});
export type GatewayConfig = Static<typeof GatewayConfig>;
export * from './program.js';
