import { Type, type Static } from '@sinclair/typebox';
import { Strict, Id, Hostname, PluginMap } from './common.js';
import { Upstream, Timeouts } from './upstream.js';

/** Canary-style matcher on a request attribute (APISIX `vars`). */
export const RouteVar = Strict({
  source: Type.Union([Type.Literal('header'), Type.Literal('query'), Type.Literal('cookie')]),
  name: Type.String({ minLength: 1 }),
  op: Type.Union([Type.Literal('eq'), Type.Literal('ne'), Type.Literal('regex'), Type.Literal('exists'), Type.Literal('in')], {
    default: 'eq',
    description: 'regex: a JavaScript pattern, refused at config time if it can backtrack super-linearly (backreferences, lookaround, a quantifier inside a repeated group, alternatives of a repeated group that start alike, two variable-length repeats in a row that can match the same text); a request value over 1024 characters never matches',
  }),
  value: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description: 'the value (eq, ne), pattern (regex) or values (in)' })),
});

export const HttpMethod = Type.Union(
  ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE'].map((m) => Type.Literal(m)),
);

export const Route = Strict({
  id: Id,
  name: Type.Optional(Type.String()),
  hosts: Type.Optional(Type.Array(Hostname, { description: 'exact or *.wildcard hosts; none = any host' })),
  paths: Type.Array(Type.String({ pattern: '^/', description: 'find-my-way path: /static, /users/:id, /files/*' }), { minItems: 1 }),
  methods: Type.Optional(Type.Array(HttpMethod, { description: 'none = every method' })),
  vars: Type.Optional(Type.Array(RouteVar, { description: 'every matcher must hold' })),
  priority: Type.Integer({ default: 0, description: 'higher wins among routes matching the same request (default 0)' }),
  upstream_id: Type.Optional(Id),
  upstream: Type.Optional(Type.Omit(Upstream, ['id'])),
  plugins: Type.Optional(PluginMap),
  split: Type.Optional(Strict({
    upstream_id: Id,
    weight: Type.Integer({ minimum: 0, maximum: 100, default: 0, description: 'percent of requests sent to upstream_id (default 0)' }),
    match: Type.Optional(Type.Array(RouteVar, { description: 'requests matching every matcher always go to upstream_id' })),
  }, { description: 'canary / blue-green at backend level: part of the traffic to another upstream (written by deployments)' })),
  regions: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'regions this route runs in; none = every region' })),
  strip_prefix: Type.Optional(Type.String({ pattern: '^/', description: 'prefix removed from the path before proxying' })),
  rewrite_path: Type.Optional(Type.String({ pattern: '^/', description: 'path sent upstream instead of the client one' })),
  timeout: Type.Optional(Timeouts),
  max_body_size: Type.Optional(Type.Integer({ minimum: 0, description: 'request body limit in bytes (413 above it)' })),
  enabled: Type.Boolean({ default: true }),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
});

export type RouteVar = Static<typeof RouteVar>;
export type Route = Static<typeof Route>;
