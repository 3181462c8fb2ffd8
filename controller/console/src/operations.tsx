import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import './ops.css';
import { ApiError, api, canWrite, session, type Role } from './api';
import { usePoll } from './nav';

// Types only: the controller's declarations, nothing of them bundled.
import type { NodeAck, PurgeResult as Purge } from '../../purge/fanout.js';
import type { AuditRecord } from '../../store/resource-store.js';
import type { DrainProgress as Progress } from '../../purge/drain.js';

/**
 * POST with `Accept: application/x-ndjson`: each `{"progress"}` line is handed to `onLine` as it
 * arrives; the last line `{"status", "body"}` is the plain answer.
 */
async function streamed(path: string, body: unknown, onLine: (p: Progress) => void): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(path, {
    method: 'POST', cache: 'no-store', credentials: 'omit', body: JSON.stringify(body),
    headers: { accept: 'application/x-ndjson', 'content-type': 'application/json', authorization: `Bearer ${session.token() ?? ''}` },
  });
  if (!res.ok || !res.body) {
    const e = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
    throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? res.statusText);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let final: { status: number; body: Record<string, unknown> } | undefined;
  const take = (line: string): void => {
    if (!line.trim()) return;
    const msg = JSON.parse(line) as { progress?: Progress; status?: number; body?: Record<string, unknown> };
    if (msg.progress) onLine(msg.progress);
    else final = { status: msg.status ?? 0, body: msg.body ?? {} };
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    lines.forEach(take);
  }
  take(buf);
  if (!final) throw new Error('the answer ended before its last line');
  return final;
}

function Drain(): JSX.Element {
  const [f, setF] = useState({ service: '', instance: '', datacenter: '' });
  const [lines, setLines] = useState<Progress[]>([]);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const [running, setRunning] = useState(false);
  const set = (k: keyof typeof f) => (e: { currentTarget: { value: string } }): void => setF({ ...f, [k]: e.currentTarget.value });
  const run = async (action: 'drain' | 'undrain'): Promise<void> => {
    setRunning(true);
    setLines([]);
    setResult(null);
    const got: Progress[] = [];
    try {
      const body = action === 'drain' ? f : { instance: f.instance, datacenter: f.datacenter };
      const r = await streamed(`/v1/${action}`, body, (p) => {
        got.push(p);
        setLines([...got]);
      });
      const ok = r.status === 200;
      const acked = (r.body.acked as NodeAck[] | undefined)?.length ?? 0;
      setResult({ ok, text: ok ? `${action}ed ${f.instance}: ${acked} gateway node(s) acked` : `${String(r.body.message ?? `${action} failed`)}` });
    } catch (err) {
      setResult({ ok: false, text: (err as Error).message });
    }
    setRunning(false);
  };
  return (
    <form class="panel edit-control" aria-label="Drain an instance" onSubmit={(e) => { e.preventDefault(); void run('drain'); }}>
      <h2>Drain or undrain an instance</h2>
      <label>Service <input aria-label="Service" value={f.service} onInput={set('service')} /></label>
      <label>Instance <input aria-label="Instance" value={f.instance} onInput={set('instance')} /></label>
      <label>Datacenter <input aria-label="Datacenter" value={f.datacenter} onInput={set('datacenter')} /></label>
      <div class="toolbar">
        <button type="submit" class="danger" disabled={running}>Drain</button>
        <button type="button" disabled={running} onClick={() => void run('undrain')} title="registers the instance again from the drain's record (the service is read from it)">Undrain</button>
      </div>
      {lines.length > 0 && <ol class="progress" data-testid="progress">
        {lines.map((l, i) => <li key={i} data-stage={l.stage}><span class="muted">{Math.round(l.ms)} ms</span> {l.message}</li>)}
      </ol>}
      {result && <p class={result.ok ? 'ok' : 'error'} role={result.ok ? 'status' : 'alert'}>{result.text}</p>}
    </form>
  );
}

const ackText = (a: NodeAck): string => `${a.region}/${a.cluster}/${a.node}${a.ok ? '' : ` (${a.error ?? 'no ack'})`}`;

function Purges(): JSX.Element {
  const [items, setItems] = useState<Purge[] | null>(null);
  usePoll(async () => setItems((await api<{ items: Purge[] }>('GET', '/v1/purges')).items), 5_000);
  return (
    <section>
      <h2>Purge history <span class="muted">(the Consul watches' last 20)</span></h2>
      {items === null ? <p class="loading">Loading…</p> : items.length === 0 ? <p class="muted">No purges yet.</p> : (
        <table data-testid="purges">
          <thead><tr><th>Service</th><th>Datacenter</th><th>Instance</th><th>Result</th><th>Acked</th><th>Not acked</th><th>Took</th></tr></thead>
          <tbody>{[...items].reverse().map((p, i) => (
            <tr key={i}>
              <td class="mono">{p.request.service}</td><td>{p.request.datacenter}</td><td class="mono">{p.request.instance ?? 'all'}</td>
              <td>{p.complete ? 'complete' : <span class="text-bad">incomplete</span>}</td>
              <td>{p.acked.map(ackText).join(', ') || '—'}</td><td class="text-bad">{p.not_acked.map(ackText).join(', ')}</td><td>{p.took_ms} ms</td>
            </tr>
          ))}</tbody>
        </table>
      )}
    </section>
  );
}

function Audit(): JSX.Element {
  const [items, setItems] = useState<AuditRecord[] | null>(null);
  // The API answers the newest 100 oldest first; the newest is shown on top.
  usePoll(async () => setItems((await api<{ items: AuditRecord[] }>('GET', '/v1/audit?limit=100')).items.reverse()), 5_000);
  return (
    <section>
      <h2>Audit log <span class="muted">(newest 100)</span></h2>
      {items === null ? <p class="loading">Loading…</p> : (
        <table data-testid="audit">
          <thead><tr><th>When</th><th>Who</th><th>What</th><th>Changed fields</th></tr></thead>
          <tbody>{items.map((a, i) => (
            <tr key={i} data-kind={a.kind} data-id={a.id}>
              <td class="mono">{a.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</td>
              <td>{a.who} <span class={`role role-${a.role}`}>{a.role}</span></td>
              <td><span class="mono">{a.action} {a.kind}/{a.id}</span>{a.detail ? <span class="muted"> ({a.detail})</span> : null}</td>
              <td class="mono">{a.changed?.join(', ') ?? '—'}</td>
            </tr>
          ))}</tbody>
        </table>
      )}
    </section>
  );
}

export function Operations(props: { role: Role }): JSX.Element {
  return (
    <div class="operations">
      <h1>Operations</h1>
      {canWrite(props.role) && <Drain />}
      <Purges />
      {props.role === 'admin' ? <Audit /> : <p class="muted">The audit log is for admin tokens.</p>}
    </div>
  );
}
