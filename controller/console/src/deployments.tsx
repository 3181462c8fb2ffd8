import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import './ops.css';
import { api, canWrite, type Listed, type Role } from './api';
import { usePoll } from './nav';

// Types only: the declarations, nothing of them bundled.
import type { Deployment } from '../../../src/core/model/resources.js';
import type { DeploymentLive, DeploySide } from '../../deploy/live.js';

const POLL_MS = 2_000;

/** The traffic split now: the current step's share on the new side while running. */
export function splitText(d: Deployment): string {
  if (d.state === 'promoted') return `100% ${d.to}`;
  if (d.state !== 'running') return `100% ${d.from}`;
  const share = d.steps[d.step] ?? 0;
  return `${100 - share}% ${d.from} / ${share}% ${d.to}`;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** One side now: requests/s and 5xx share over the last seconds, as the gateways counted them. */
function SideLine(props: { side: DeploySide }): JSX.Element {
  const s = props.side;
  const figures = s.rps === null ? 'measuring…' : `${s.rps.toFixed(1)} req/s, ${s.error_rate === null ? 'no requests' : `${pct(s.error_rate)} 5xx`}`;
  return <div data-side={s.side} class={s.error_rate !== null && s.error_rate > 0 ? 'error' : undefined}><span class="mono">{s.name}</span> {s.weight}%: {figures}</div>;
}

function LiveCell(props: { live: DeploymentLive | { error: string } | undefined }): JSX.Element {
  const l = props.live;
  if (!l) return <td data-testid="live" class="muted">—</td>;
  if ('error' in l) return <td data-testid="live" class="error">{l.error}</td>;
  return (
    <td data-testid="live" class="live">
      {l.sides.map((s) => <SideLine key={s.side} side={s} />)}
      <div class="muted">{l.window_ms === null ? 'first scrape' : `last ${(l.window_ms / 1000).toFixed(0)} s`}, {l.nodes.scraped}/{l.nodes.registered} node(s)</div>
    </td>
  );
}

function Create(props: { onDone: () => void }): JSX.Element {
  const [f, setF] = useState({ id: '', kind: 'backend', target: '', from: '', to: '', steps: '5, 25, 100' });
  const [error, setError] = useState('');
  const set = (k: keyof typeof f) => (e: { currentTarget: { value: string } }): void => setF({ ...f, [k]: e.currentTarget.value });
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const steps = f.steps.split(/[\s,%]+/).filter(Boolean).map(Number);
    try {
      await api('POST', '/v1/deployments', { body: { id: f.id, kind: f.kind, [f.kind === 'backend' ? 'route' : 'vdomain']: f.target, from: f.from, to: f.to, steps } });
      setError('');
      props.onDone();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form class="panel edit-control" aria-label="New deployment" onSubmit={(e) => void submit(e)}>
      <h2>New deployment</h2>
      <label>Id <input aria-label="Deployment id" value={f.id} onInput={set('id')} /></label>
      <label>Kind <select aria-label="Kind" value={f.kind} onChange={set('kind')}>
        <option value="backend">backend (route split between upstreams)</option>
        <option value="gateway">gateway (virtual domain between clusters)</option>
      </select></label>
      <label>{f.kind === 'backend' ? 'Route' : 'Virtual domain'} <input aria-label="Target" value={f.target} onInput={set('target')} /></label>
      <label>From <input aria-label="From" placeholder={f.kind === 'backend' ? 'upstream id' : 'region/cluster'} value={f.from} onInput={set('from')} /></label>
      <label>To <input aria-label="To" placeholder={f.kind === 'backend' ? 'upstream id' : 'region/cluster'} value={f.to} onInput={set('to')} /></label>
      <label>Steps (%) <input aria-label="Steps" value={f.steps} onInput={set('steps')} /></label>
      <button type="submit">Create</button>
      {error && <p class="error" role="alert">{error}</p>}
    </form>
  );
}

export function Deployments(props: { role: Role }): JSX.Element {
  const [items, setItems] = useState<Array<Listed<Deployment>> | null>(null);
  const [live, setLive] = useState<Record<string, DeploymentLive | { error: string }>>({});
  const [error, setError] = useState('');
  const [busy, setBusy] = useState('');
  const load = async (): Promise<void> => {
    try {
      const list = (await api<{ items: Array<Listed<Deployment>> }>('GET', '/v1/deployments')).items;
      // Only running deployments split traffic: the others are not scraped for.
      const now: Record<string, DeploymentLive | { error: string }> = {};
      await Promise.all(list.filter((d) => d.value.state === 'running').map(async (d) => {
        try {
          now[d.id] = await api<DeploymentLive>('GET', `/v1/deployments/${encodeURIComponent(d.id)}/live`);
        } catch (err) {
          now[d.id] = { error: (err as Error).message };
        }
      }));
      setItems(list);
      setLive(now);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  usePoll(load, POLL_MS);
  const act = async (id: string, action: 'start' | 'promote' | 'rollback'): Promise<void> => {
    setBusy(id);
    try {
      await api('POST', `/v1/deployments/${encodeURIComponent(id)}/${action}`, { body: {} });
      setError('');
    } catch (err) {
      setError(`${action} ${id}: ${(err as Error).message}`);
    }
    setBusy('');
    await load();
  };
  const write = canWrite(props.role);

  return (
    <div class="deployments">
      <h1>Deployments</h1>
      {error && <p class="error" role="alert">{error}</p>}
      {items === null ? <p class="loading">Loading…</p> : items.length === 0 ? <p class="muted">No deployments.</p> : (
        <table data-testid="deployments">
          <thead><tr><th>Id</th><th>Kind</th><th>Target</th><th>State</th><th>Step</th><th>Split now</th><th>Each side live</th><th>Last event</th>{write && <th />}</tr></thead>
          <tbody>
            {items.map(({ id, value: d }) => {
              const last = d.history[d.history.length - 1];
              return (
                <tr key={id} data-deployment={id} data-state={d.state}>
                  <td class="mono">{id}</td>
                  <td>{d.kind === 'backend' ? 'canary (backend)' : 'blue-green (gateway)'}</td>
                  <td class="mono">{d.kind === 'backend' ? `route ${d.route ?? ''}` : `vdomain ${d.vdomain ?? ''}`}</td>
                  <td data-testid="state">{d.state.replace('_', ' ')}</td>
                  <td>{d.step < 0 ? '—' : `${d.step + 1} of ${d.steps.length}`} <span class="muted">({d.steps.join('/')}%)</span></td>
                  <td data-testid="split">{splitText(d)}</td>
                  <LiveCell live={live[id]} />
                  <td class="muted">{last ? `${last.event}${last.detail ? `: ${last.detail}` : ''}` : '—'}</td>
                  {write && <td class="actions">
                    {(d.state === 'pending' || d.state === 'rolled_back') && <button type="button" class="edit-control" disabled={busy === id} onClick={() => void act(id, 'start')}>Start</button>}
                    {d.state === 'running' && <>
                      <button type="button" class="edit-control" disabled={busy === id} onClick={() => void act(id, 'promote')}>Promote</button>
                      <button type="button" class="edit-control danger" disabled={busy === id} onClick={() => void act(id, 'rollback')}>Roll back</button>
                    </>}
                  </td>}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <p class="facts">The split is the deployment's current step. Each side of a running deployment: its requests/s and 5xx share over the last seconds, from every gateway node's metrics (GET /v1/deployments/&lt;id&gt;/live; backend: the route's requests to that upstream, gateway: every request of that cluster's nodes).</p>
      {write && <Create onDone={() => void load()} />}
    </div>
  );
}
