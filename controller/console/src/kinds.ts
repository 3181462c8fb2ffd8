// The resource kinds the console lists and edits, each with its list columns and filters. Their
// fields come from the API's schemas (schema.ts), not from here.
import type { Role } from './api';

type Value = Record<string, unknown>;

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const pluginNames = (v: Value): string[] => (typeof v.plugins === 'object' && v.plugins !== null ? Object.keys(v.plugins) : []);

export interface Column {
  label: string;
  text: (id: string, v: Value) => string;
  mono?: boolean;
}

/** A select above the list: the values come from the items themselves. */
export interface Filter {
  label: string;
  values: (v: Value) => string[];
}

export interface KindView {
  /** The API's kind (`/v1/<kind>`) and the console's path (`/ui/<kind>`). */
  kind: 'routes' | 'upstreams' | 'consumers' | 'ssl' | 'global_rules';
  title: string;
  /** One of them, in a heading ("Upstream u1"). */
  label: string;
  /** Singular, as the API's messages name it (`invalid upstream: ...`). */
  one: string;
  /** Plural in running text ("3 of 10 upstreams"). */
  many: string;
  /** Its schema's name in the OpenAPI document. */
  schema: string;
  /** The field that names it (the id in the URL). */
  key: string;
  /** Writing it needs the admin role (controller/api/resources-api.ts ADMIN_KINDS). */
  adminOnly: boolean;
  columns: Column[];
  /** More text the search matches, beyond the columns. */
  search?: (v: Value) => string[];
  filters: Filter[];
}

const nodesOf = (v: Value): string => {
  const d = v.discovery as Value | undefined;
  if (d) return `consul ${str(d.service)}${d.datacenter ? ` @${str(d.datacenter)}` : ''}`;
  return (Array.isArray(v.nodes) ? (v.nodes as Value[]) : []).map((n) => `${str(n.host)}:${String(n.port)}`).join(' ');
};

export const KINDS: readonly KindView[] = [
  {
    kind: 'routes', label: 'Route', title: 'Routes', one: 'route', many: 'routes', schema: 'Route', key: 'id', adminOnly: false,
    columns: [
      { label: 'Id', text: (id) => id, mono: true },
      { label: 'Paths', text: (_id, v) => strings(v.paths).join(' '), mono: true },
      { label: 'Hosts', text: (_id, v) => (strings(v.hosts).join(' ') || '*') },
      { label: 'Upstream', text: (_id, v) => str(v.upstream_id) || (v.upstream ? '(inline)' : '—') },
    ],
    search: (v) => strings(v.methods),
    filters: [
      { label: 'Upstream', values: (v) => [str(v.upstream_id) || (v.upstream ? '(inline)' : '(none)')] },
      { label: 'Method', values: (v) => (Array.isArray(v.methods) ? strings(v.methods) : ['(any)']) },
    ],
  },
  {
    kind: 'upstreams', label: 'Upstream', title: 'Upstreams', one: 'upstream', many: 'upstreams', schema: 'Upstream', key: 'id', adminOnly: false,
    columns: [
      { label: 'Id', text: (id) => id, mono: true },
      { label: 'Balancer', text: (_id, v) => str(v.type) },
      { label: 'Nodes', text: (_id, v) => nodesOf(v), mono: true },
      { label: 'Scheme', text: (_id, v) => str(v.scheme) },
    ],
    filters: [
      { label: 'Balancer', values: (v) => [str(v.type)] },
      { label: 'Nodes from', values: (v) => [v.discovery ? 'consul' : 'static'] },
    ],
  },
  {
    kind: 'consumers', label: 'Consumer', title: 'Consumers', one: 'consumer', many: 'consumers', schema: 'Consumer', key: 'username', adminOnly: false,
    columns: [
      { label: 'Username', text: (id) => id, mono: true },
      { label: 'Plugins', text: (_id, v) => pluginNames(v).join(' ') },
      { label: 'Labels', text: (_id, v) => Object.entries((v.labels as Record<string, string> | undefined) ?? {}).map(([k, x]) => `${k}=${x}`).join(' ') },
    ],
    filters: [{ label: 'Plugin', values: pluginNames }],
  },
  {
    kind: 'ssl', label: 'SSL certificate', title: 'SSL', one: 'ssl', many: 'certificates', schema: 'Ssl', key: 'id', adminOnly: true,
    columns: [
      { label: 'Id', text: (id) => id, mono: true },
      { label: 'Server names', text: (_id, v) => strings(v.snis).join(' ') },
      { label: 'Default for ports', text: (_id, v) => (Array.isArray(v.default_for_ports) ? v.default_for_ports.join(' ') : '') },
    ],
    filters: [],
  },
  {
    kind: 'global_rules', label: 'Global rule', title: 'Global rules', one: 'global_rule', many: 'global rules', schema: 'GlobalRule', key: 'id', adminOnly: true,
    columns: [
      { label: 'Id', text: (id) => id, mono: true },
      { label: 'Plugins', text: (_id, v) => pluginNames(v).join(' ') },
    ],
    filters: [{ label: 'Plugin', values: pluginNames }],
  },
];

/** Whether `role` may create, edit and delete resources of this kind (the API checks anyway). */
export const mayWrite = (k: KindView, role: Role): boolean => role === 'admin' || (role === 'write' && !k.adminOnly);
