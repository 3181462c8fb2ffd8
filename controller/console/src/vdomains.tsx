import { useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import './ops.css';
import { api, canWrite, type Listed, type Role } from './api';
import type { VDomainAnswer } from '../../vdomains/dns-answer.js';
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

/** At most this many virtual domains are asked about per refresh (each is two DNS queries). */
const MAX_ANSWERS = 50;

/** GET /v1/vdomains/{id}/answer for one virtual domain, or why no server answered. */
type Preview = { answer: VDomainAnswer } | { error: string };

function AnswerCell(props: { preview: Preview | undefined }): JSX.Element {
  const p = props.preview;
  if (!p) return <td data-testid="preview" class="muted">asking…</td>;
  if ('error' in p) return <td data-testid="preview" class="error">no DNS server reachable: {p.error}</td>;
  const a = p.answer;
  const records = a.records.filter((r) => r.type !== 'CNAME');
  return (
    <td data-testid="preview" data-server={a.server}>
      <span class="mono" data-testid="records">{records.length ? records.map((r) => `${r.type} ${r.value}`).join(', ') : `${a.rcode}: no records`}</span>
      {records[0] && <span class="muted"> TTL {records[0].ttl} s</span>}
      <div class="muted" data-testid="answered-by">answered by {a.server} ({a.transport}{a.client_subnet ? `, ECS ${a.client_subnet}` : ', no CIDR: the controller\'s address'}{a.scope !== null ? `, scope /${a.scope}` : ''}, {a.took_ms} ms){a.failed.length ? `; not answering: ${a.failed.map((f) => f.server).join(', ')}` : ''}</div>
    </td>
  );
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
  const [from, setFrom] = useState('');
  const [previews, setPreviews] = useState<{ region: string; by: Record<string, Preview> }>({ region: '', by: {} });
  const [error, setError] = useState('');
  // The poll's closure is made once: the region picked is read through a ref.
  const picked = useRef('');
  const ask = async (items: Array<Listed<VDomain>>, region: string): Promise<void> => {
    if (!region) return;
    const by: Record<string, Preview> = {};
    await Promise.all(items.slice(0, MAX_ANSWERS).map(async (v) => {
      try {
        by[v.id] = { answer: await api<VDomainAnswer>('GET', `/v1/vdomains/${encodeURIComponent(v.id)}/answer?region=${encodeURIComponent(region)}`) };
      } catch (err) {
        by[v.id] = { error: (err as Error).message };
      }
    }));
    if (picked.current === region) setPreviews({ region, by });
  };
  const load = async (): Promise<void> => {
    try {
      const [v, b, r] = await Promise.all([
        api<{ items: Array<Listed<VDomain>> }>('GET', '/v1/vdomains'),
        api<{ items: Array<Listed<Binding>> }>('GET', '/v1/bindings'),
        api<{ items: Array<Listed<Region>> }>('GET', '/v1/regions'),
      ]);
      setVdomains(v.items);
      setBindings(b.items);
      setRegions(r.items.map((x) => x.value));
      setError('');
      picked.current ||= r.items[0]?.id ?? '';
      await ask(v.items, picked.current);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  usePoll(load, POLL_MS);
  const region = from || regions[0]?.name || '';
  const pick = (name: string): void => {
    setFrom(name);
    picked.current = name;
    void ask(vdomains ?? [], name);
  };

  return (
    <div class="vdomains">
      <h1>Virtual domains</h1>
      {error && <p class="error" role="alert">{error}</p>}
      {vdomains === null ? <p class="loading">Loading…</p> : (
        <table data-testid="vdomains">
          <thead><tr><th>Name</th><th>Policy</th><th>Records</th><th>TTL</th><th>Bound domains</th><th>A client in {region || '—'} gets (DNS answer)</th></tr></thead>
          <tbody>
            {vdomains.map((v, i) => (
              <tr key={v.id} data-vdomain={v.id}>
                <td class="mono">{v.value.name ?? v.id}{v.value.description ? <div class="muted">{v.value.description}</div> : null}</td>
                <td>{policyText(v.value.policy)}</td>
                <td>{v.value.records}</td>
                <td>{v.value.ttl} s</td>
                <td class="mono">{bindings.filter((b) => b.value.vdomain === v.id).map((b) => b.id).join(' ') || '—'}</td>
                {i < MAX_ANSWERS ? <AnswerCell preview={previews.region === region ? previews.by[v.id] : undefined} /> : <td class="muted">not asked (first {MAX_ANSWERS} only)</td>}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="facts">
        A client in region <select aria-label="Client region" value={region} onChange={(e) => pick(e.currentTarget.value)}>
          {regions.map((r) => <option key={r.name} value={r.name}>{r.name}</option>)}
        </select>: each virtual domain's A and AAAA records as the DNS servers answer them now, asked with the region's first CIDR as the EDNS Client Subnet (GET /v1/vdomains/&lt;id&gt;/answer).
      </p>
      {canWrite(props.role) && <div class="forms">
        <Allocate onDone={() => void load()} />
        <Bind vdomains={vdomains ?? []} onDone={() => void load()} />
      </div>}
    </div>
  );
}
