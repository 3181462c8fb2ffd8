import { RESOURCES, type ResourceKind } from '../../src/core/model/index.js';
import { DrainRequest } from '../purge/drain.js';
import { SINGULAR } from '../store/resource-service.js';

/** TypeBox schemas are JSON Schema; a JSON round trip drops TypeBox's symbol keys. */
const plain = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema));

const ERROR = { $ref: '#/components/schemas/Error' };
const err = (description: string) => ({ description, content: { 'application/json': { schema: ERROR } } });

/** The OpenAPI 3.1 document, generated from the same schemas the API validates with. */
export function openApiDocument(version: string): Record<string, unknown> {
  const schemas: Record<string, unknown> = {
    Error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string', description: 'MERIDIAN_ERR_<AREA>_<DETAIL>' }, message: { type: 'string' } } },
    DrainRequest: plain(DrainRequest),
  };
  const paths: Record<string, unknown> = {};
  const auth = { 401: err('no or bad token'), 403: err('role too low') };
  for (const kind of Object.keys(RESOURCES) as ResourceKind[]) {
    const name = SINGULAR[kind].replace(/(^|_)(\w)/g, (_m, _s, c: string) => c.toUpperCase());
    schemas[name] = plain(RESOURCES[kind].schema);
    const ref = { $ref: `#/components/schemas/${name}` };
    const body = { required: true, content: { 'application/json': { schema: ref } } };
    const one = { 200: { description: `the ${SINGULAR[kind]} (ETag: its revision)`, content: { 'application/json': { schema: ref } } } };
    paths[`/v1/${kind}`] = {
      get: { summary: `list ${kind}`, tags: [kind], responses: { 200: { description: 'items with revisions' }, ...auth } },
      post: { summary: `create a ${SINGULAR[kind]}`, tags: [kind], requestBody: kind === 'vdomains' ? { content: { 'application/json': { schema: { type: 'object', description: 'VDomain without uuid: the controller allocates <uuid>.<zone>' } } } } : body, responses: { 201: { description: 'created' }, 400: err('invalid'), 409: err('exists'), ...auth } },
    };
    paths[`/v1/${kind}/{id}`] = {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      get: { summary: `get a ${SINGULAR[kind]}`, tags: [kind], responses: { ...one, 404: err('not found'), ...auth } },
      put: {
        summary: `create or replace a ${SINGULAR[kind]} (idempotent)`, tags: [kind], requestBody: body,
        parameters: [{ name: 'If-Match', in: 'header', schema: { type: 'string' }, description: 'revision last read: 409 if it changed since' }, { name: 'If-None-Match', in: 'header', schema: { const: '*' }, description: 'create only' }],
        responses: { 200: { description: 'updated or unchanged' }, 201: { description: 'created' }, 400: err('invalid or missing reference'), 409: err('revision conflict'), ...auth },
      },
      delete: { summary: `delete a ${SINGULAR[kind]}`, tags: [kind], responses: { 200: { description: 'deleted' }, 404: err('not found'), 409: err('still referenced, or revision conflict'), ...auth } },
    };
  }
  for (const action of ['start', 'promote', 'rollback']) {
    paths[`/v1/deployments/{id}/${action}`] = { post: { summary: `${action} a deployment`, tags: ['deployments'], parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'new state' }, 409: err('wrong state'), ...auth } } };
  }
  paths['/v1/drain'] = { post: { summary: 'deregister an instance from Consul, purge every gateway, answer once all acked', requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/DrainRequest' } } } }, responses: { 200: { description: 'every gateway node acked' }, 504: err('some nodes did not ack (named)'), ...auth } } };
  paths['/v1/status'] = { get: { summary: 'per region and per gateway node: in_sync, behind, unreachable', responses: { 200: { description: 'status' }, ...auth } } };
  paths['/v1/audit'] = { get: { summary: 'audit log (admin)', responses: { 200: { description: 'records' }, ...auth } } };
  return {
    openapi: '3.1.0',
    info: { title: 'Meridian controller API', version },
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
