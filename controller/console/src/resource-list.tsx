import { useEffect, useMemo, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { api, type Listed, type Role } from './api';
import { mayWrite, type KindView } from './kinds';
import { navigate } from './nav';
import { VirtualList } from './virtual-list';

interface Row {
  id: string;
  cells: string[];
  /** What the search box matches, lower case. */
  text: string;
  /** Per filter, the values this item has. */
  facets: string[][];
}

/** Every resource of a kind in a virtualised list, with a search box and the kind's filters. */
export function ResourceList(props: { view: KindView; role: Role }): JSX.Element {
  const { view } = props;
  const [items, setItems] = useState<Array<Listed<Record<string, unknown>>> | null>(null);
  const [error, setError] = useState('');
  const [query, setQuery] = useState('');
  const [picked, setPicked] = useState<string[]>(() => view.filters.map(() => ''));

  useEffect(() => {
    api<{ items: Array<Listed<Record<string, unknown>>> }>('GET', `/v1/${view.kind}`).then((r) => setItems(r.items.sort((a, b) => a.id.localeCompare(b.id))), (err: unknown) => setError((err as Error).message));
  }, []);
  // Cells, search text and filter values are computed once per load, not per keystroke.
  const rows = useMemo<Row[]>(() => (items ?? []).map((it) => {
    const cells = view.columns.map((c) => c.text(it.id, it.value));
    return { id: it.id, cells, text: [...cells, ...(view.search?.(it.value) ?? [])].join(' ').toLowerCase(), facets: view.filters.map((f) => f.values(it.value)) };
  }), [items]);
  const options = useMemo(() => view.filters.map((_f, i) => [...new Set(rows.flatMap((r) => r.facets[i] ?? []))].sort()), [rows]);
  const shown = useMemo(() => {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    return rows.filter((r) => words.every((w) => r.text.includes(w)) && picked.every((p, i) => p === '' || (r.facets[i] ?? []).includes(p)));
  }, [rows, query, picked]);
  const cols = `cols-${view.columns.length}`;

  return (
    <div class="resources" data-kind={view.kind}>
      <h1>{view.title}</h1>
      <div class="toolbar">
        <input type="search" placeholder={`Search ${view.columns.map((c) => c.label.toLowerCase()).join(', ')}`} aria-label={`Filter ${view.many}`} value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        {view.filters.map((f, i) => (
          <select key={f.label} aria-label={`${f.label} filter`} value={picked[i]} onChange={(e) => { const v = e.currentTarget.value; setPicked(picked.map((p, k) => (k === i ? v : p))); }}>
            <option value="">{f.label}: all</option>
            {(options[i] ?? []).map((o) => <option key={o} value={o}>{f.label}: {o}</option>)}
          </select>
        ))}
        {mayWrite(view, props.role) && <button type="button" class="edit-control" onClick={() => navigate(`/${view.kind}/-/new`)}>New {view.label.toLowerCase()}</button>}
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {items === null && !error ? <p class="loading">Loading…</p> : null}
      {items !== null && <p class="facts" data-testid={`${view.kind}-count`}>{shown.length} of {items.length} {view.many}</p>}
      <div class={`vlist-head ${cols}`}>{view.columns.map((c) => <span key={c.label}>{c.label}</span>)}</div>
      <VirtualList items={shown} row={(r) => (
        <a href={`/ui/${view.kind}/${encodeURIComponent(r.id)}`} class={`resource-row ${cols}`} onClick={(e) => { e.preventDefault(); navigate(`/${view.kind}/${encodeURIComponent(r.id)}`); }}>
          {r.cells.map((c, i) => <span key={i} class={view.columns[i]?.mono ? 'mono' : undefined}>{c}</span>)}
        </a>
      )} />
    </div>
  );
}
