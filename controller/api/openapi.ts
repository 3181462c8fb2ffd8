import { RESOURCES, type ResourceKind } from '../../src/core/model/index.js';
import { DrainRequest, UndrainRequest } from '../purge/drain.js';
import { SINGULAR } from '../store/resource-service.js';
import type { RouteEntry } from './server.js';

/** Drain and undrain report as they go when asked to (ApiServer `progress`). */
const PROGRESS = '; with `Accept: application/x-ndjson`: 200 and a line `{progress: {stage, message, ms}}` per stage and gateway ack, then `{status, body}` of the plain answer';

const RECORD = { type: 'object', required: ['name', 'type', 'ttl', 'value'], properties: { name: { type: 'string' }, type: { type: 'string', description: 'A, AAAA, CNAME' }, ttl: { type: 'integer' }, value: { type: 'string', description: 'address or target name' } } };
const VDOMAIN_ANSWER = {
  type: 'object', required: ['vdomain', 'name', 'region', 'client_subnet', 'server', 'rcode', 'records', 'failed'],
  properties: {
    vdomain: { type: 'string' }, name: { type: 'string', description: '<uuid>.<zone>, the name asked' }, region: { type: 'string' },
    client_subnet: { type: ['string', 'null'], description: 'the ECS subnet sent (the region\'s first CIDR); null: the region has none' },
    server: { type: 'string', description: 'the DNS server (host:port) that answered' }, transport: { enum: ['udp', 'tcp'] },
    rcode: { type: 'string' }, authoritative: { type: 'boolean' }, scope: { type: ['integer', 'null'], description: 'ECS scope prefix of the answer' },
    records: { type: 'array', items: RECORD }, took_ms: { type: 'integer' },
    failed: { type: 'array', items: { type: 'object', properties: { server: { type: 'string' }, error: { type: 'string' } } }, description: 'servers asked first that did not answer' },
  },
};
const RATE = { type: ['number', 'null'] };
const DEPLOYMENT_LIVE = {
  type: 'object', required: ['id', 'kind', 'state', 'window_ms', 'sides', 'nodes'],
  properties: {
    id: { type: 'string' }, kind: { enum: ['backend', 'gateway'] }, state: { type: 'string' },
    window_ms: { ...RATE, description: 'time the rates cover; null on the first scrape' },
    sides: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'object', properties: { side: { enum: ['from', 'to'] }, name: { type: 'string' }, weight: { type: 'number' }, rps: RATE, error_rate: { ...RATE, description: '5xx share of the requests' }, requests: RATE, errors: RATE } } },
    nodes: { type: 'object', properties: { registered: { type: 'integer' }, scraped: { type: 'integer' } } },
  },
};

/** TypeBox schemas are JSON Schema; a JSON round trip drops TypeBox's symbol keys. */
const plain = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema));

const ERROR = { $ref: '#/components/schemas/Error' };
const err = (description: string) => ({ description, content: { 'application/json': { schema: ERROR } } });
const AUTH = { 401: err('no or bad token'), 403: err('role too low') };
const json = (schema: unknown) => ({ required: true, content: { 'application/json': { schema } } });

const schemaName = (kind: ResourceKind): string => SINGULAR[kind].replace(/(^|_)(\w)/g, (_m, _s, c: string) => c.toUpperCase());

/** `/v1/:kind/:id` -> `/v1/{kind}/{id}` and the parameter names. */
export function openApiPath(path: string): { path: string; params: string[] } {
  const params: string[] = [];
  const out = path.replace(/:(\w+)/g, (_m, name: string) => {
    params.push(name);
    return `{${name}}`;
  });
  return { path: out, params };
}

type Operation = Record<string, unknown>;

/**
 * What the route table cannot say (bodies, answers), per route as registered. A route without
 * an entry is still documented, with its summary and role: the paths come from the table alone.
 */
function details(r: RouteEntry, kind: ResourceKind | undefined): Operation {
  const key = `${r.method} ${r.path}`;
  const ref = kind ? { $ref: `#/components/schemas/${schemaName(kind)}` } : undefined;
  const one = kind ? SINGULAR[kind] : '';
  switch (key) {
    case 'GET /v1/:kind':
      return { summary: `list ${kind}`, responses: { 200: { description: 'items with revisions' } } };
    case 'GET /v1/:kind/:id':
      return { summary: `get a ${one}`, responses: { 200: { description: `the ${one} (ETag: its revision)`, content: { 'application/json': { schema: ref } } }, 404: err('not found') } };
    case 'GET /v1/:kind/:id/references':
      return {
        summary: `what references a ${one}`,
        responses: { 200: { description: `\`{kind, id, by}\`: by lists the resources (\`<kind>/<id>\`) that refer to this ${one}; while it is not empty a DELETE answers 409`, content: { 'application/json': { schema: { type: 'object', required: ['kind', 'id', 'by'], properties: { kind: { type: 'string' }, id: { type: 'string' }, by: { type: 'array', items: { type: 'string' } } } } } } }, 404: err('not found') },
      };
    case 'PUT /v1/:kind/:id':
      return {
        summary: `create or replace a ${one} (idempotent)`, requestBody: json(ref),
        parameters: [{ name: 'If-Match', in: 'header', schema: { type: 'string' }, description: 'revision last read: 409 if it changed since' }, { name: 'If-None-Match', in: 'header', schema: { const: '*' }, description: 'create only' }],
        responses: { 200: { description: 'updated or unchanged' }, 201: { description: 'created' }, 400: err('invalid or missing reference'), 409: err('revision conflict') },
      };
    case 'POST /v1/:kind':
      return { summary: `create a ${one}`, requestBody: json(ref), responses: { 201: { description: 'created' }, 400: err('invalid'), 409: err('exists') } };
    case 'DELETE /v1/:kind/:id':
      return { summary: `delete a ${one}`, responses: { 200: { description: 'deleted' }, 404: err('not found'), 409: err('still referenced, or revision conflict') } };
    case 'POST /v1/vdomains':
      return { requestBody: json({ type: 'object', description: 'VDomain without uuid: the controller allocates <uuid>.<zone>' }), responses: { 201: { description: 'created' }, 400: err('invalid') } };
    case 'POST /v1/apply':
      return {
        requestBody: json({ $ref: '#/components/schemas/ApplyRequest' }),
        responses: { 200: { description: 'per resource: created, updated, unchanged or deleted (a dry run also carries before and after)' }, 400: err('invalid (the body names the resource: resource)'), 409: err('conflict or still referenced; nothing was written') },
      };
    case 'GET /v1/whoami':
      return { responses: { 200: { description: 'the name and role of the token', content: { 'application/json': { schema: { type: 'object', required: ['name', 'role'], properties: { name: { type: 'string' }, role: { enum: ['read', 'write', 'admin'] } } } } } } } };
    case 'GET /v1/vdomains/:id/answer':
      return {
        parameters: [{ name: 'region', in: 'query', required: true, schema: { type: 'string' }, description: 'the client\'s region: its first CIDR is sent as the EDNS Client Subnet' }],
        responses: { 200: { description: 'the first configured DNS server\'s answer', content: { 'application/json': { schema: { $ref: '#/components/schemas/VDomainAnswer' } } } }, 400: err('no region given'), 404: err('no such virtual domain or region'), 503: err('no DNS server configured, or none answered (each named with its error)') },
      };
    case 'GET /v1/deployments/:id/live':
      return { responses: { 200: { description: 'per side (from, to): weight, requests/s, 5xx share', content: { 'application/json': { schema: { $ref: '#/components/schemas/DeploymentLive' } } } }, 404: err('no such deployment') } };
    case 'POST /v1/drain':
      return { requestBody: json({ $ref: '#/components/schemas/DrainRequest' }), responses: { 200: { description: `every gateway node acked${PROGRESS}` }, 504: err('some nodes did not ack (named)') } };
    case 'POST /v1/undrain':
      return {
        requestBody: json({ $ref: '#/components/schemas/UndrainRequest' }),
        responses: { 200: { description: `registered again from the drain's record, every gateway node acked the purge${PROGRESS}` }, 404: err('no recorded drain of this instance'), 504: err('some nodes did not ack (named)') },
      };
    default:
      if (r.path.startsWith('/v1/deployments/:id/')) return { responses: { 200: { description: 'new state' }, 409: err('wrong state') } };
      return {};
  }
}

function operation(r: RouteEntry, kind: ResourceKind | undefined, params: string[]): Operation {
  const d = details(r, kind);
  const pathParams = params.filter((p) => p !== 'kind').map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
  const parameters = [...pathParams, ...((d.parameters as unknown[] | undefined) ?? [])];
  const responses = { ...((d.responses as Record<string, unknown> | undefined) ?? { 200: { description: 'ok' } }), ...(r.role === null ? {} : AUTH) };
  return {
    summary: r.action, ...d, responses,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(kind ? { tags: [kind] } : {}),
    'x-meridian-role': r.role ?? 'none',
    ...(r.role === null ? { security: [] } : {}),
  };
}

/**
 * The OpenAPI 3.1 document, generated from the route table the server serves (ApiServer.routes)
 * and the schemas the API validates with: a route cannot be served undocumented. A route with
 * `:kind` is documented once per resource kind, except where a kind has its own route.
 */
export function openApiDocument(version: string, routes: readonly RouteEntry[]): Record<string, unknown> {
  const schemas: Record<string, unknown> = {
    Error: {
      type: 'object', required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'MERIDIAN_ERR_<AREA>_<DETAIL>' },
        message: { type: 'string' },
        field: { type: 'string', description: 'the field the error is about, when it is about one: its path in the body, dots between keys and [n] for array items (`nodes[0].port`, `plugins.key-auth.key`); in an apply, within the resource named by `resource`' },
        resource: { type: 'string', description: 'POST /v1/apply only: the resource (<kind>/<id>) the error is about' },
      },
    },
    DrainRequest: plain(DrainRequest),
    UndrainRequest: plain(UndrainRequest),
    VDomainAnswer: VDOMAIN_ANSWER,
    DeploymentLive: DEPLOYMENT_LIVE,
    ApplyRequest: {
      type: 'object', required: ['resources'], additionalProperties: false,
      properties: {
        resources: { type: 'array', items: { type: 'object', required: ['kind', 'spec'], properties: { kind: { enum: Object.keys(RESOURCES) }, spec: { type: 'object' } } } },
        dry_run: { type: 'boolean', description: 'validate and report, write nothing' },
        prune: { type: 'object', properties: { kinds: { type: 'array', items: { enum: Object.keys(RESOURCES) } } }, description: 'delete the stored resources of these kinds that resources does not name' },
      },
    },
  };
  for (const kind of Object.keys(RESOURCES) as ResourceKind[]) schemas[schemaName(kind)] = plain(RESOURCES[kind].schema);
  const served = new Set(routes.map((r) => `${r.method} ${r.path}`));
  const paths: Record<string, Record<string, unknown>> = {};
  const add = (r: RouteEntry, concrete: string, kind: ResourceKind | undefined) => {
    const { path, params } = openApiPath(concrete);
    paths[path] ??= {};
    (paths[path] as Record<string, unknown>)[r.method.toLowerCase()] = operation(r, kind, params);
  };
  for (const r of routes) {
    if (!r.path.includes(':kind')) {
      add(r, r.path, undefined);
      continue;
    }
    for (const kind of Object.keys(RESOURCES) as ResourceKind[]) {
      const concrete = r.path.replace(':kind', kind);
      if (!served.has(`${r.method} ${concrete}`)) add(r, concrete, kind);
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Meridian controller API', version },
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
