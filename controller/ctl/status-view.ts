import type { ControllerStatus, NodeStatus } from '../status.js';
import { table } from './table.js';

/** "down since 2026-12-03T10:01:02Z (2/2 probers)", or "-" when no prober observes the node. */
function probes(n: NodeStatus): string {
  const p = n.probe;
  if (!p) return '-';
  const agree = p.up ? p.up_count : p.down_count;
  return `${p.up ? 'up' : 'down'} since ${p.since.replace(/\.\d+Z$/, 'Z')} (${agree}/${p.up_count + p.down_count} probers)`;
}

/** A region line, then one line per node it registers or its cluster definition names. */
export function statusTable(s: ControllerStatus): string {
  const rows = s.regions.flatMap((g) => [
    [g.region, '', g.state, String(g.desired_revision), String(g.applied_revision ?? '-'), ''],
    ...g.nodes.map((n) => [`  ${g.region}`, `${n.cluster}/${n.name}`, n.state, String(g.desired_revision), String(n.config_revision ?? '-'), probes(n)]),
  ]);
  return `leader: ${s.leader ?? 'none'}\n${table(['REGION', 'NODE', 'STATE', 'DESIRED', 'APPLIED', 'PROBERS'], rows)}`;
}

/** Healthy: every region in sync (or without etcd, nothing to sync) and none degraded. */
export function statusHealthy(s: ControllerStatus): boolean {
  return s.regions.every((g) => g.state === 'in_sync' || g.state === 'no_etcd');
}
