import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { parse, stringify } from 'yaml';
import { ApiError, api, apiCall, type Role } from './api';
import { KINDS, mayWrite, type KindView } from './kinds';
import { lineDiff } from './line-diff';
import { navigate } from './nav';
import { errorTarget, isObject, prune, resourceSchema, type JsonSchema } from './schema';
import { SchemaForm, type FieldError } from './schema-form';

type Value = Record<string, unknown>;
type Mode = 'view' | 'edit' | 'review' | 'delete';

/** What a save that moved to another page says there (the new resource's page, once created). */
let flash = '';

const yamlOf = (v: unknown): string => (v === undefined ? '' : stringify(v));

function Diff(props: { before: string; after: string }): JSX.Element {
  const lines = lineDiff(props.before, props.after);
  if (!lines.some((l) => l.op !== ' ')) return <p class="muted" data-testid="diff">No changes.</p>;
  return (
    <pre class="code diff" data-testid="diff">
      {lines.map((l, i) => <div key={i} class={l.op === '+' ? 'diff-add' : l.op === '-' ? 'diff-del' : undefined}>{`${l.op} ${l.text}`}</div>)}
    </pre>
  );
}

/**
 * One resource: shown as YAML or JSON; for tokens that may write it, edited with the form
 * generated from the API's schema or as YAML, reviewed as a diff against what is stored, saved
 * (If-Match: the revision read), and deleted after a look at what references it. `id` null: a new one.
 */
export function ResourcePage(props: { view: KindView; id: string | null; role: Role }): JSX.Element {
  const { view, id } = props;
  const path = id === null ? `/v1/${view.kind}` : `/v1/${view.kind}/${encodeURIComponent(id)}`;
  const [stored, setStored] = useState<{ value: Value; etag: string | null } | null>(null);
  const [schema, setSchema] = useState<JsonSchema | null>(null);
  const [mode, setMode] = useState<Mode>(id === null ? 'edit' : 'view');
  const [format, setFormat] = useState<'yaml' | 'json'>('yaml');
  const [tab, setTab] = useState<'form' | 'yaml'>('form');
  const [draft, setDraft] = useState<Value>({});
  const [yamlText, setYamlText] = useState('');
  const [yamlError, setYamlError] = useState('');
  const [error, setError] = useState<FieldError | null>(null);
  const [status, setStatus] = useState('');
  const [refs, setRefs] = useState<string[] | null>(null);
  const writer = mayWrite(view, props.role);

  const load = (): void => {
    if (id === null) return;
    apiCall<Value>('GET', path).then(({ body, etag }) => setStored({ value: body, etag }), (err: unknown) => setError({ at: '', message: (err as Error).message }));
  };
  // Keyed by path in the app: a new id is a new page, and its state starts afresh.
  useEffect(() => {
    setStatus(flash);
    flash = '';
    load();
    if (writer) resourceSchema(view.schema).then(setSchema, (err: unknown) => setError({ at: '', message: (err as Error).message }));
  }, []);

  const edit = (): void => {
    setDraft(structuredClone(stored?.value ?? {}));
    setTab('form');
    setError(null);
    setStatus('');
    setMode('edit');
  };
  const showTab = (t: 'form' | 'yaml'): void => {
    if (t === 'yaml') {
      setYamlText(yamlOf(prune(draft)));
      setYamlError('');
    }
    setTab(t);
  };
  const onYaml = (text: string): void => {
    setYamlText(text);
    try {
      const v: unknown = text.trim() === '' ? {} : parse(text);
      if (!isObject(v)) throw new Error(`a ${view.one} is a mapping of fields`);
      setDraft(v);
      setYamlError('');
    } catch (err) {
      setYamlError((err as Error).message.split('\n')[0] ?? 'not YAML');
    }
  };

  const save = async (): Promise<void> => {
    const body = prune(draft);
    try {
      const w = id === null
        ? await api<{ id: string; result: string }>('POST', path, { body })
        : await api<{ id: string; result: string }>('PUT', path, { body, headers: stored?.etag ? { 'if-match': stored.etag } : {} });
      setError(null);
      const said = `${view.label} ${w.id} ${w.result}.`;
      if (id === null) {
        flash = said;
        navigate(`/${view.kind}/${encodeURIComponent(w.id)}`);
      } else {
        setStatus(said);
        setMode('view');
        load();
      }
    } catch (err) {
      const e = err as Error;
      // The API names the field a refusal is about (`field` of its error body).
      const field = err instanceof ApiError ? err.field : undefined;
      const at = field !== undefined && schema ? errorTarget(schema, field) : '';
      // Changed by someone else since it was read: the stored version is read again, so the next
      // review compares the edit with it (and the next save names its revision).
      const conflict = err instanceof ApiError && err.code === 'MERIDIAN_ERR_CONTROLLER_CONFLICT';
      if (conflict) load();
      setError({ at, message: conflict ? `${e.message}. Read again: review your changes against it.` : e.message });
      if (at !== '') setTab('form');
      setMode('edit');
    }
  };

  const askDelete = async (): Promise<void> => {
    setRefs(null);
    setMode('delete');
    try {
      setRefs((await api<{ by: string[] }>('GET', `${path}/references`)).by);
    } catch (err) {
      setError({ at: '', message: (err as Error).message });
    }
  };
  const remove = async (): Promise<void> => {
    try {
      await api('DELETE', path, { headers: stored?.etag ? { 'if-match': stored.etag } : {} });
      navigate(`/${view.kind}`);
    } catch (err) {
      setError({ at: '', message: (err as Error).message });
    }
  };

  const back = (
    <p><a href={`/ui/${view.kind}`} onClick={(e) => { e.preventDefault(); navigate(`/${view.kind}`); }}>← {view.title}</a></p>
  );
  // An error the form shows at its field is not repeated at the top.
  const topError = error && (error.at === '' || mode !== 'edit' || tab !== 'form') ? error.message : '';
  const source = stored === null ? '' : format === 'yaml' ? yamlOf(stored.value) : JSON.stringify(stored.value, null, 2);

  return (
    <div class="resource-page" data-kind={view.kind}>
      {back}
      <h1>{id === null ? `New ${view.label.toLowerCase()}` : <>{view.label} <span class="mono">{id}</span></>}</h1>
      {status && <p class="ok" role="status">{status}</p>}
      {topError && <p class="error" role="alert">{topError}</p>}
      {mode === 'view' && (
        <>
          <div class="toolbar">
            <button type="button" aria-pressed={format === 'yaml'} onClick={() => setFormat('yaml')}>YAML</button>
            <button type="button" aria-pressed={format === 'json'} onClick={() => setFormat('json')}>JSON</button>
            {writer && stored !== null && <>
              <button type="button" class="edit-control" onClick={edit}>Edit</button>
              <button type="button" class="edit-control danger" onClick={() => void askDelete()}>Delete</button>
            </>}
          </div>
          {stored !== null && <pre class="code" data-testid={`${view.one}-source`}>{source}</pre>}
        </>
      )}
      {mode === 'delete' && (
        <div class="delete-check" data-testid="delete-warning">
          {refs === null ? <p class="loading">Looking for what refers to it…</p> : refs.length > 0 ? (
            <>
              <p class="text-bad">{view.label} {id} is referenced by {refs.length} resource(s); the API refuses to delete it until none does:</p>
              <ul>{refs.map((r) => <li key={r} class="mono">{KINDS.some((k) => r.startsWith(`${k.kind}/`)) ? <a href={`/ui/${r}`} onClick={(e) => { e.preventDefault(); navigate(`/${r}`); }}>{r}</a> : r}</li>)}</ul>
            </>
          ) : <p>Nothing refers to {view.label.toLowerCase()} {id}. Delete it?</p>}
          <div class="toolbar">
            {refs !== null && refs.length === 0 && <button type="button" class="edit-control danger" onClick={() => void remove()}>Confirm delete</button>}
            <button type="button" onClick={() => setMode('view')}>Cancel</button>
          </div>
        </div>
      )}
      {(mode === 'edit' || mode === 'review') && writer && (
        <div class="editor">
          <div class="toolbar">
            <button type="button" aria-pressed={tab === 'form'} disabled={mode === 'review'} onClick={() => showTab('form')}>Form</button>
            <button type="button" aria-pressed={tab === 'yaml'} disabled={mode === 'review'} onClick={() => showTab('yaml')}>YAML</button>
          </div>
          {mode === 'edit' && tab === 'form' && (schema === null ? <p class="loading">Loading the schema…</p> : (
            <SchemaForm schema={schema} value={draft} onChange={setDraft} locked={id === null ? [] : [view.key]} {...(error && error.at !== '' ? { error } : {})} />
          ))}
          {mode === 'edit' && tab === 'yaml' && (
            <>
              <textarea class="edit-control mono" aria-label={`${view.label} as YAML`} rows={24} value={yamlText} onInput={(e) => onYaml(e.currentTarget.value)} />
              {yamlError && <p class="field-error">YAML: {yamlError}</p>}
            </>
          )}
          {mode === 'review' && <Diff before={yamlOf(stored?.value)} after={yamlOf(prune(draft))} />}
          <div class="toolbar">
            {mode === 'edit' ? (
              <button type="button" class="edit-control" disabled={yamlError !== '' && tab === 'yaml'} onClick={() => { setError(null); setMode('review'); }}>Review changes</button>
            ) : (
              <>
                <button type="button" class="edit-control" onClick={() => void save()}>Save</button>
                <button type="button" onClick={() => setMode('edit')}>Back to editing</button>
              </>
            )}
            <button type="button" onClick={() => (id === null ? navigate(`/${view.kind}`) : setMode('view'))}>Cancel</button>
          </div>
        </div>
      )}
    </div>
  );
}
