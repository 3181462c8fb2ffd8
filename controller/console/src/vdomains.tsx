import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import './ops.css';
import { api, canWrite, type ControllerStatus, type Listed, type Role } from './api';
import { usePoll } from './nav';

// Types only: the model's declarations, nothing of them bundled.
import type { Binding, Region, VDomain, VDomainPolicy } from '../../../src/core/model/resources.js';

interface Cname {
  name: string;
  type: 'CNAME';
  value: string;
  record: string;
}

const POLL_MS = 5_000;

export function policyText(p: VDomainPolicy): string {
  if (p.type === 'weighted') return `weighted ${Object.entries(p.weights ?? {}).map(([k, w]) => `${k}=${w}`).join(', ')}`;
  if (p.type === 'failover') return `failover ${(p.regions ?? []).join(' → ')}`;
  if (p.type === 'pinned') return `pinned ${[...(p.regions ?? []), ...(p.clusters ?? [])].join(', ')}`;
  return 'nearest';
}

/** A region can serve when it is not drained and at least one of its nodes is not down or missing. */
function healthyRegions(regions: Region[], status: ControllerStatus | null): Set<string> {
  const ok = new Set<string>();
  for (const r of regions) {
    const s = status?.regions.find((x) => x.region === r.name);
    if (!r.drained && (s?.nodes.some((n) => n.state !== 'down' && n.state !== 'missing') ?? false)) ok.add(r.name);
  }
  return ok;
}

/**
 * The steering policy's order for a client located in `from`, computed here from the virtual
 * domain, the regions' failover lists and /v1/status: not the DNS servers' answer (no endpoint
 * gives that), which also weighs ISP lines, record counts and the probers' per-node view.
 */
export function computedOrder(vd: VDomain, from: string, regions: Region[], status: ControllerStatus | null): string[] {
  const healthy = healthyRegions(regions, status);
  const tag = (r: string): string => (healthy.has(r) ? r : `${r} (unhealthy: skipped)`);
  const p = vd.policy;
  if (p.type === 'weighted') {
    const w = Object.entries(p.weights ?? {}).filter(([k]) => healthy.has(k.split('/')[0] ?? ''));
    const total = w.reduce((s, [, n]) => s + n, 0);
    return total === 0 ? ['no healthy weighted cluster'] : w.map(([k, n]) => `${k} ${Math.round((n / total) * 100)}%`);
  }
  const order = p.type === 'nearest' ? [from, ...(regions.find((r) => r.name === from)?.failover ?? [])] : p.type === 'pinned' ? (p.regions ?? [...new Set((p.clusters ?? []).map((c) => c.split('/')[0] ?? ''))]) : (p.regions ?? []);
  const out = [...new Set(order)].map(tag);
  return out.length ? out : ['no region'];
}

function policyFrom(type: string, regions: string, weights: string): VDomainPolicy {
  const list = regions.split(/[\s,]+/).filter(Boolean);
  if (type === 'failover') return { type, regions: list };
  if (type === 'weighted') {
    const w: Record<string, number> = {};
    for (const part of weights.split(/[\s,]+/).filter(Boolean)) {
      const [k, n] = part.split('=');
      if (k) w[k] = Number(n);
    }
    return { type, weights: w };
  }
  return { type: 'nearest' };
}

function Allocate(props: { onDone: () => void }): JSX.Element {
  const [type, setType] = useState('nearest');
  const [regions, setRegions] = useState('');
  const [weights, setWeights] = useState('');
  const [description, setDescription] = useState('');
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    try {
      const r = await api<{ id: string; value: VDomain }>('POST', '/v1/vdomains', { body: { policy: policyFrom(type, regions, weights), ...(description ? { description } : {}) } });
      setMsg({ ok: true, text: `allocated ${r.value.name ?? r.id}` });
      props.onDone();
    } catch (err) {
      setMsg({ ok: false, text: (err as Error).message });
    }
  };
  return (
    <form class="panel edit-control" aria-label="Allocate a virtual domain" onSubmit={(e) => void submit(e)}>
      <h2>Allocate a virtual domain</h2>
      <label>Policy <select aria-label="Policy" value={type} onChange={(e) => setType(e.currentTarget.value)}>
        <option value="nearest">nearest</option><option value="failover">failover order</option><option value="weighted">weighted</option>
      </select></label>
      {type === 'failover' && <label>Regions in order <input aria-label="Failover regions" placeholder="east, west" value={regions} onInput={(e) => setRegions(e.currentTarget.value)} /></label>}
      {type === 'weighted' && <label>Weights <input aria-label="Weights" placeholder="east/c1=90, west/c1=10" value={weights} onInput={(e) => setWeights(e.currentTarget.value)} /></label>}
      <label>Description <input aria-label="Description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} /></label>
      <button type="submit">Allocate</button>
      {msg && <p class={msg.ok ? 'ok' : 'error'} role={msg.ok ? 'status' : 'alert'}>{msg.text}</p>}
    </form>
  );
}

function Bind(props: { vdomains: Array<Listed<VDomain>>; onDone: () => void }): JSX.Element {
  const [domain, setDomain] = useState('');
  const [vdomain, setVdomain] = useState('');
  const [answer, setAnswer] = useState<{ cname: Cname; warning?: string } | null>(null);
  const [error, setError] = useState('');
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    try {
      const r = await api<{ cname: Cname; warning?: string }>('PUT', `/v1/bindings/${encodeURIComponent(domain)}`, { body: { domain, vdomain: vdomain || props.vdomains[0]?.id } });
      setAnswer(r);
      setError('');
      props.onDone();
    } catch (err) {
      setAnswer(null);
      setError((err as Error).message);
    }
  };
  return (
    <form class="panel edit-control" aria-label="Bind a domain" onSubmit={(e) => void submit(e)}>
      <h2>Bind a business domain</h2>
      <label>Domain <input aria-label="Domain" placeholder="api.shop.example" value={domain} onInput={(e) => setDomain(e.currentTarget.value)} /></label>
      <label>Virtual domain <select aria-label="Virtual domain" value={vdomain || props.vdomains[0]?.id} onChange={(e) => setVdomain(e.currentTarget.value)}>
        {props.vdomains.map((v) => <option key={v.id} value={v.id}>{v.value.name ?? v.id}</option>)}
      </select></label>
      <button type="submit" disabled={props.vdomains.length === 0}>Bind</button>
      {error && <p class="error" role="alert">{error}</p>}
      {answer && <div data-testid="cname">
        <p>Publish this record{answer.warning ? '' : ' (Meridian DNS already answers it)'}:</p>
        <pre class="code">{answer.cname.record}</pre>
        {answer.warning && <p class="warn">{answer.warning}</p>}
      </div>}
    </form>
  );
}

export function VDomains(props: { role: Role }): JSX.Element {
  const [vdomains, setVdomains] = useState<Array<Listed<VDomain>> | null>(null);
  const [bindings, setBindings] = useState<Array<Listed<Binding>>>([]);
  const [regions, setRegions] = useState<Region[]>([]);
  const [status, setStatus] = useState<ControllerStatus | null>(null);
  const [from, setFrom] = useState('');
  const [error, setError] = useState('');
  const load = async (): Promise<void> => {
    try {
      const [v, b, r, s] = await Promise.all([
        api<{ items: Array<Listed<VDomain>> }>('GET', '/v1/vdomains'),
        api<{ items: Array<Listed<Binding>> }>('GET', '/v1/bindings'),
        api<{ items: Array<Listed<Region>> }>('GET', '/v1/regions'),
        api<ControllerStatus>('GET', '/v1/status'),
      ]);
      setVdomains(v.items);
      setBindings(b.items);
      setRegions(r.items.map((x) => x.value));
      setStatus(s);
      setError('');
    } catch (err) {
      setError((err as Error).message);
    }
  };
  usePoll(load, POLL_MS);
  const region = from || regions[0]?.name || '';

  return (
    <div class="vdomains">
      <h1>Virtual domains</h1>
      {error && <p class="error" role="alert">{error}</p>}
      {vdomains === null ? <p class="loading">Loading…</p> : (
        <table data-testid="vdomains">
          <thead><tr><th>Name</th><th>Policy</th><th>Records</th><th>TTL</th><th>Bound domains</th><th>Client in {region || '—'} gets (computed)</th></tr></thead>
          <tbody>
            {vdomains.map((v) => (
              <tr key={v.id} data-vdomain={v.id}>
                <td class="mono">{v.value.name ?? v.id}{v.value.description ? <div class="muted">{v.value.description}</div> : null}</td>
                <td>{policyText(v.value.policy)}</td>
                <td>{v.value.records}</td>
                <td>{v.value.ttl} s</td>
                <td class="mono">{bindings.filter((b) => b.value.vdomain === v.id).map((b) => b.id).join(' ') || '—'}</td>
                <td data-testid="preview">{region ? computedOrder(v.value, region, regions, status).join(' → ') : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="facts">
        Client in region <select aria-label="Client region" value={region} onChange={(e) => setFrom(e.currentTarget.value)}>
          {regions.map((r) => <option key={r.name} value={r.name}>{r.name}</option>)}
        </select>: the order is computed from each policy, the regions' failover lists and their health in /v1/status, not read from the DNS servers.
      </p>
      {canWrite(props.role) && <div class="forms">
        <Allocate onDone={() => void load()} />
        <Bind vdomains={vdomains ?? []} onDone={() => void load()} />
      </div>}
    </div>
  );
}
