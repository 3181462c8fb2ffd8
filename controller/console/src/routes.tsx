import { useEffect, useMemo, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { stringify } from 'yaml';
import { api, canWrite, type Listed, type Role, type Route } from './api';
import { navigate } from './nav';

const ROW_PX = 32;
const VIEW_PX = 640;
const OVERSCAN = 8;

/** The text a route is found by: its id, hosts, paths, methods and upstream. */
const haystack = (r: Listed<Route>): string =>
  [r.id, ...(r.value.hosts ?? []), ...r.value.paths, ...(r.value.methods ?? []), r.value.upstream_id ?? ''].join(' ').toLowerCase();

/** Only the rows in view (plus a few) are in the DOM: 10,000 routes cost as much as 30. */
function VirtualList<T>(props: { items: readonly T[]; row: (item: T) => JSX.Element }): JSX.Element {
  const [top, setTop] = useState(0);
  const first = Math.max(0, Math.floor(top / ROW_PX) - OVERSCAN);
  const last = Math.min(props.items.length, Math.ceil((top + VIEW_PX) / ROW_PX) + OVERSCAN);
  return (
    <div class="vlist" ref={(el) => { if (el) el.style.height = `${VIEW_PX}px`; }} onScroll={(e) => setTop(e.currentTarget.scrollTop)}>
      <div ref={(el) => { if (el) el.style.height = `${props.items.length * ROW_PX}px`; }} class="vlist-space">
        {props.items.slice(first, last).map((item, i) => (
          <div class="vlist-row" key={first + i} ref={(el) => { if (el) el.style.top = `${(first + i) * ROW_PX}px`; }}>{props.row(item)}</div>
        ))}
      </div>
    </div>
  );
}

export function Routes(props: { role: Role }): JSX.Element {
  const [routes, setRoutes] = useState<Array<Listed<Route>> | null>(null);
  const [error, setError] = useState('');
  const [query, setQuery] = useState('');

  useEffect(() => {
    api<{ items: Array<Listed<Route>> }>('GET', '/v1/routes').then((r) => setRoutes(r.items.sort((a, b) => a.id.localeCompare(b.id))), (err: unknown) => setError((err as Error).message));
  }, []);
  const indexed = useMemo(() => (routes ?? []).map((r) => ({ r, text: haystack(r) })), [routes]);
  const shown = useMemo(() => {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    return indexed.filter((x) => words.every((w) => x.text.includes(w))).map((x) => x.r);
  }, [indexed, query]);

  return (
    <div class="routes">
      <h1>Routes</h1>
      <div class="toolbar">
        <input type="search" placeholder="Filter by id, host, path, method or upstream" aria-label="Filter routes" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        {canWrite(props.role) && <button type="button" class="edit-control" disabled title="The route form is not built yet: use meridian ctl apply">New route</button>}
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {routes === null && !error ? <p class="loading">Loading…</p> : null}
      {routes !== null && <p class="facts" data-testid="routes-count">{shown.length} of {routes.length} routes</p>}
      <div class="vlist-head"><span>Id</span><span>Paths</span><span>Hosts</span><span>Upstream</span></div>
      <VirtualList items={shown} row={(r) => (
        <a href={`/ui/routes/${encodeURIComponent(r.id)}`} class="route-row" onClick={(e) => { e.preventDefault(); navigate(`/routes/${encodeURIComponent(r.id)}`); }}>
          <span class="mono">{r.id}</span>
          <span class="mono">{r.value.paths.join(' ')}</span>
          <span>{(r.value.hosts ?? ['*']).join(' ')}</span>
          <span>{r.value.upstream_id ?? '—'}</span>
        </a>
      )} />
    </div>
  );
}

/** One route, read-only as YAML or JSON; a write or admin token also gets edit and delete. */
export function RouteView(props: { id: string; role: Role }): JSX.Element {
  const [route, setRoute] = useState<Route | null>(null);
  const [format, setFormat] = useState<'yaml' | 'json'>('yaml');
  const [error, setError] = useState('');
  const [editing, setEditing] = useState<string | null>(null);
  const path = `/v1/routes/${encodeURIComponent(props.id)}`;

  const load = (): void => {
    api<Route>('GET', path).then(setRoute, (err: unknown) => setError((err as Error).message));
  };
  useEffect(load, [props.id]);

  const save = async (): Promise<void> => {
    try {
      await api('PUT', path, { body: JSON.parse(editing ?? '{}') as unknown });
      setEditing(null);
      setError('');
      load();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const remove = async (): Promise<void> => {
    if (!confirm(`Delete route ${props.id}?`)) return;
    try {
      await api('DELETE', path);
      navigate('/routes');
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const text = route === null ? '' : format === 'yaml' ? stringify(route) : JSON.stringify(route, null, 2);
  return (
    <div class="route-view">
      <p><a href="/ui/routes" onClick={(e) => { e.preventDefault(); navigate('/routes'); }}>← Routes</a></p>
      <h1>Route <span class="mono">{props.id}</span></h1>
      <div class="toolbar">
        <button type="button" aria-pressed={format === 'yaml'} onClick={() => setFormat('yaml')}>YAML</button>
        <button type="button" aria-pressed={format === 'json'} onClick={() => setFormat('json')}>JSON</button>
        {canWrite(props.role) && route !== null && editing === null && <>
          <button type="button" class="edit-control" onClick={() => setEditing(JSON.stringify(route, null, 2))}>Edit</button>
          <button type="button" class="edit-control danger" onClick={() => void remove()}>Delete</button>
        </>}
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {editing !== null ? (
        <div class="editor">
          <textarea class="edit-control mono" aria-label="Route as JSON" rows={20} value={editing} onInput={(e) => setEditing(e.currentTarget.value)} />
          <div class="toolbar">
            <button type="button" class="edit-control" onClick={() => void save()}>Save</button>
            <button type="button" onClick={() => setEditing(null)}>Cancel</button>
          </div>
        </div>
      ) : route !== null && <pre class="code" data-testid="route-source">{text}</pre>}
    </div>
  );
}
