import type { Deployment, ResourceKind, Route, Binding, VDomain } from '../../src/core/model/index.js';
import type { ResourceStore } from './resource-store.js';

/** A reference from one resource field to another resource. */
export interface Reference {
  field: string;
  kind: ResourceKind;
  id: string;
}

const regionOf = (pair: string): string => pair.split('/')[0] ?? pair;

/** What `value` (already validated) points at; each must exist when it is written. */
export function outgoing(kind: ResourceKind, value: unknown): Reference[] {
  const refs: Reference[] = [];
  if (kind === 'routes') {
    const r = value as Route;
    if (r.upstream_id) refs.push({ field: 'upstream_id', kind: 'upstreams', id: r.upstream_id });
    if (r.split) refs.push({ field: 'split.upstream_id', kind: 'upstreams', id: r.split.upstream_id });
  } else if (kind === 'bindings') {
    refs.push({ field: 'vdomain', kind: 'vdomains', id: (value as Binding).vdomain });
  } else if (kind === 'vdomains') {
    const p = (value as VDomain).policy;
    for (const region of p.regions ?? []) refs.push({ field: 'policy.regions', kind: 'regions', id: region });
    for (const pair of [...(p.clusters ?? []), ...Object.keys(p.weights ?? {})]) refs.push({ field: 'policy', kind: 'regions', id: regionOf(pair) });
  } else if (kind === 'deployments') {
    const d = value as Deployment;
    if (d.kind === 'gateway') {
      if (d.vdomain) refs.push({ field: 'vdomain', kind: 'vdomains', id: d.vdomain });
      refs.push({ field: 'from', kind: 'regions', id: regionOf(d.from) }, { field: 'to', kind: 'regions', id: regionOf(d.to) });
    } else {
      if (d.route) refs.push({ field: 'route', kind: 'routes', id: d.route });
      refs.push({ field: 'from', kind: 'upstreams', id: d.from }, { field: 'to', kind: 'upstreams', id: d.to });
    }
  }
  // One guard per target is enough.
  const seen = new Set<string>();
  return refs.filter((r) => (seen.has(`${r.kind}/${r.id}`) ? false : (seen.add(`${r.kind}/${r.id}`), true)));
}

/** Kinds whose resources may point at `kind`. */
const REFERRERS: Partial<Record<ResourceKind, ResourceKind[]>> = {
  upstreams: ['routes', 'deployments'],
  vdomains: ['bindings', 'deployments'],
  routes: ['deployments'],
  regions: ['vdomains', 'deployments'],
};

/** Finished deployments are history: they do not hold what they once pointed at. */
export function holds(kind: ResourceKind, value: unknown): boolean {
  if (kind !== 'deployments') return true;
  const state = (value as Deployment).state;
  return state === 'pending' || state === 'running';
}

/** Resources that point at kind/id (as "kind/id"), so it may not be deleted. */
export async function incoming(store: ResourceStore, kind: ResourceKind, id: string): Promise<string[]> {
  const by: string[] = [];
  for (const referrer of REFERRERS[kind] ?? []) {
    const { items } = await store.list(referrer);
    for (const item of items) {
      if (holds(referrer, item.value) && outgoing(referrer, item.value).some((r) => r.kind === kind && r.id === id)) by.push(`${referrer}/${item.id}`);
    }
  }
  return by;
}
