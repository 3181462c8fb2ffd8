import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { api, type ControllerStatus, type Leader, type NodeStatus, type RegionStatus } from './api';
import { usePoll } from './nav';

/** How often the overview asks again (the bound: at most every 2 s). */
export const POLL_MS = 2_000;

// Every state has a colour class and its own words, so nothing rests on colour alone.
const TONE: Record<string, 'ok' | 'warn' | 'bad' | 'unknown'> = {
  in_sync: 'ok', behind: 'warn', degraded: 'warn', no_etcd: 'unknown', unknown: 'unknown', unreachable: 'bad', missing: 'bad', down: 'bad',
};
const LABEL: Record<string, string> = {
  in_sync: 'in sync', behind: 'behind', degraded: 'degraded', no_etcd: 'no etcd', unknown: 'unknown', unreachable: 'unreachable', missing: 'missing', down: 'DOWN',
};

export function Badge(props: { state: string }): JSX.Element {
  return <span class={`badge tone-${TONE[props.state] ?? 'unknown'}`} data-state={props.state}>{LABEL[props.state] ?? props.state}</span>;
}

const since = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

function Probe(props: { node: NodeStatus }): JSX.Element {
  const p = props.node.probe;
  if (!p) return <span class="muted">no prober</span>;
  const n = p.up_count + p.down_count;
  return <span class={p.up ? 'probe-up' : 'probe-down'}>{p.up ? 'up' : 'down'} since {since(p.since)} ({p.up ? p.up_count : p.down_count}/{n} probers)</span>;
}

function NodeRow(props: { node: NodeStatus; desired: number }): JSX.Element {
  const n = props.node;
  return (
    <tr class={`node tone-row-${TONE[n.state] ?? 'unknown'}`} data-node={`${n.cluster}/${n.name}`} data-state={n.state}>
      <td>{n.cluster}</td>
      <td>{n.name}</td>
      <td><Badge state={n.state} /></td>
      <td><Probe node={n} /></td>
      <td>{n.config_revision ?? '—'}{n.config_revision !== null && n.config_revision < props.desired ? <span class="muted"> / {props.desired}</span> : null}</td>
      <td>{n.registered ? 'yes' : 'no'}{n.expected ? '' : <span class="muted"> (not in the cluster definition)</span>}</td>
      <td class="mono">{n.address}</td>
      <td class="muted">{n.version}</td>
    </tr>
  );
}

function Region(props: { region: RegionStatus }): JSX.Element {
  const r = props.region;
  const bad = r.nodes.filter((n) => TONE[n.state] === 'bad').length;
  return (
    <section class={`region tone-border-${TONE[r.state] ?? 'unknown'}`} data-region={r.region} data-state={r.state}>
      <h2>{r.region} <Badge state={r.state} /></h2>
      <p class="facts">
        config revision {r.applied_revision ?? '—'} of {r.desired_revision}
        {r.written_at ? ` · written ${since(r.written_at)}` : ''}
        {' · '}{r.nodes.length} node(s){bad > 0 ? <strong class="text-bad">, {bad} down or missing</strong> : null}
      </p>
      {r.error && <p class="error">{r.error}</p>}
      {r.nodes.length === 0 ? <p class="muted">No gateway node registered or defined.</p> : (
        <table>
          <thead><tr><th>Cluster</th><th>Node</th><th>State</th><th>Probers</th><th>Config rev.</th><th>Registered</th><th>Address</th><th>Version</th></tr></thead>
          <tbody>{r.nodes.map((n) => <NodeRow key={`${n.cluster}/${n.name}`} node={n} desired={r.desired_revision} />)}</tbody>
        </table>
      )}
    </section>
  );
}

/** Regions, their clusters and nodes, sync and probe state, the leader: polled every 2 s. */
export function Overview(): JSX.Element {
  const [status, setStatus] = useState<ControllerStatus | null>(null);
  const [leader, setLeader] = useState<Leader | null>(null);
  const [error, setError] = useState('');
  const [updated, setUpdated] = useState('');

  usePoll(async () => {
    try {
      const [s, l] = await Promise.all([api<ControllerStatus>('GET', '/v1/status'), api<Leader>('GET', '/v1/leader')]);
      setStatus(s);
      setLeader(l);
      setError('');
      setUpdated(new Date().toISOString());
    } catch (err) {
      setError((err as Error).message);
    }
  }, POLL_MS);

  return (
    <div class="overview">
      <h1>Overview</h1>
      <p class="facts" data-testid="cluster-facts">
        leader <strong data-testid="leader">{leader?.id ?? 'none'}</strong>
        {status ? <> · config revision <strong data-testid="config-revision">{status.config_revision}</strong> · answered by {status.replica}</> : null}
        {updated ? <span class="muted"> · updated {since(updated)}</span> : null}
      </p>
      {error && <p class="error" role="alert">Cannot read the status: {error}</p>}
      {status === null && !error ? <p class="loading">Loading…</p> : null}
      {status !== null && status.regions.length === 0 ? <p class="muted">No region is defined yet.</p> : null}
      {status?.regions.map((r) => <Region key={r.region} region={r} />)}
    </div>
  );
}
