import { RESOURCES, type ResourceKind } from '../../src/core/model/index.js';

const ALIASES: Record<string, ResourceKind> = {
  route: 'routes', upstream: 'upstreams', consumer: 'consumers', ssl: 'ssl', cert: 'ssl', certificate: 'ssl',
  globalrule: 'global_rules', global_rule: 'global_rules', region: 'regions', vdomain: 'vdomains', virtualdomain: 'vdomains',
  binding: 'bindings', deployment: 'deployments', deploy: 'deployments',
};

/** "Route", "routes", "route" and "global-rule" all name a kind, as kubectl accepts them. */
export function kindFromName(name: string): ResourceKind | undefined {
  const n = name.toLowerCase().replace(/-/g, '_');
  if (Object.hasOwn(RESOURCES, n)) return n as ResourceKind;
  const single = n.endsWith('s') ? n.slice(0, -1) : n;
  return ALIASES[n] ?? ALIASES[single] ?? ALIASES[n.replace(/_/g, '')] ?? ALIASES[single.replace(/_/g, '')];
}

export function keyOf(kind: ResourceKind, spec: Record<string, unknown>): string | undefined {
  const v = spec[RESOURCES[kind].key];
  return typeof v === 'string' ? v : undefined;
}

/** Apply order: what is referenced first, so one file can hold a whole setup in any order. */
export const APPLY_ORDER: ResourceKind[] = ['regions', 'upstreams', 'consumers', 'ssl', 'global_rules', 'routes', 'vdomains', 'bindings', 'deployments'];

type Row = Record<string, unknown>;
const list = (v: unknown): string => (Array.isArray(v) ? v.join(',') : v === undefined || v === null ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** Table columns per kind: header -> cell. */
export const COLUMNS: Record<ResourceKind, Array<[string, (v: Row) => string]>> = {
  routes: [['PATHS', (v) => list(v.paths)], ['HOSTS', (v) => list(v.hosts)], ['UPSTREAM', (v) => list(v.upstream_id ?? (v.upstream ? 'inline' : undefined))], ['SPLIT', (v) => (v.split ? `${(v.split as Row).weight}%->${(v.split as Row).upstream_id}` : '-')], ['REGIONS', (v) => list(v.regions ?? 'all')]],
  upstreams: [['TYPE', (v) => list(v.type)], ['TARGET', (v) => (v.discovery ? `consul:${(v.discovery as Row).service}` : `${(v.nodes as unknown[] | undefined)?.length ?? 0} node(s)`)]],
  consumers: [['PLUGINS', (v) => list(Object.keys((v.plugins as Row | undefined) ?? {}))]],
  ssl: [['SNIS', (v) => list(v.snis)]],
  global_rules: [['PLUGINS', (v) => list(Object.keys((v.plugins as Row | undefined) ?? {}))]],
  regions: [['CLUSTERS', (v) => list(((v.clusters as Row[] | undefined) ?? []).map((c) => `${c.name}(${((c.nodes as unknown[] | undefined) ?? []).length})`))], ['ETCD', (v) => list((v.etcd as Row | undefined)?.endpoints)], ['CONSUL_DC', (v) => list((v.consul as Row | undefined)?.datacenter)], ['DRAINED', (v) => list(v.drained)]],
  vdomains: [['NAME', (v) => list(v.name)], ['POLICY', (v) => list((v.policy as Row).type)], ['DETAIL', (v) => { const p = v.policy as Row; return list(p.weights ?? p.clusters ?? p.regions); }]],
  bindings: [['VDOMAIN', (v) => list(v.vdomain)]],
  deployments: [['KIND', (v) => list(v.kind)], ['TARGET', (v) => list(v.route ?? v.vdomain)], ['FROM', (v) => list(v.from)], ['TO', (v) => list(v.to)], ['STATE', (v) => list(v.state)], ['STEP', (v) => { const s = v.step as number; const steps = v.steps as number[]; return s < 0 ? '-' : `${s + 1}/${steps.length} (${steps[s]}%)`; }]],
};
