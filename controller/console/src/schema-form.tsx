// A form generated from a JSON Schema (the API's own, see schema.ts): objects as fieldsets,
// enums as selects, numbers with their bounds, booleans as checkboxes, arrays with add and
// remove; what it cannot render (free-form maps such as plugin configs, unions of shapes) is a
// YAML box for that field. Every field is marked with the path the API's messages use
// (`data-field="nodes[0].port"`), and an API error naming a field is shown there.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren, JSX } from 'preact';
import { parse, stringify } from 'yaml';
import { childPath, choices, isObject, widgetOf, type JsonSchema } from './schema';

export interface FieldError {
  /** The rendered field the error belongs at (schema.ts errorTarget); '' = the form as a whole. */
  at: string;
  message: string;
}

interface Ctx {
  error: FieldError | undefined;
  /** Root fields shown but not editable (the key of a stored resource: it is in the URL). */
  locked: ReadonlySet<string>;
}

interface FieldProps {
  name: string;
  schema: JsonSchema;
  value: unknown;
  path: string;
  required: boolean;
  /** An item of an array: an emptied text stays '' (an array has no "absent" item). */
  item?: boolean;
  onChange: (v: unknown) => void;
  ctx: Ctx;
}

const inputId = (path: string): string => `field:${path}`;

function Help(props: { schema: JsonSchema }): JSX.Element | null {
  const { description, default: def } = props.schema;
  const shownDefault = def !== undefined && !(typeof def === 'object' && Object.keys(def as object).length === 0) && !description?.includes('default');
  if (!description && !shownDefault) return null;
  return <small class="help">{description}{shownDefault ? `${description ? ' ' : ''}(default ${JSON.stringify(def)})` : ''}</small>;
}

function ErrorAt(props: { path: string; ctx: Ctx }): JSX.Element | null {
  const e = props.ctx.error;
  return e && e.at === props.path ? <p class="field-error" role="alert">{e.message}</p> : null;
}

/** A labelled control with its help text and, when the API named it, its error. */
function Labelled(props: { name: string; path: string; schema: JsonSchema; required: boolean; ctx: Ctx; children: ComponentChildren }): JSX.Element {
  const mark = props.required && props.schema.default === undefined ? ' *' : '';
  return (
    <div class={`field${props.ctx.error?.at === props.path ? ' has-error' : ''}`} data-field={props.path}>
      <label for={inputId(props.path)}>{props.name}{mark}</label>
      {props.children}
      <Help schema={props.schema} />
      <ErrorAt path={props.path} ctx={props.ctx} />
    </div>
  );
}

/** Free-form YAML for what the generator cannot render; the last text that parses is the value. */
function YamlBox(props: { path: string; value: unknown; onChange: (v: unknown) => void }): JSX.Element {
  const show = (v: unknown): string => (v === undefined ? '' : stringify(v));
  const [text, setText] = useState(() => show(props.value));
  const [bad, setBad] = useState('');
  // The value this box last produced: another one arriving (an array item removed above this
  // one) replaces the text, while the box's own edits leave what is being typed alone.
  const mine = useRef(props.value);
  useEffect(() => {
    if (props.value === mine.current) return;
    mine.current = props.value;
    setText(show(props.value));
    setBad('');
  }, [props.value]);
  const onInput = (t: string): void => {
    setText(t);
    try {
      mine.current = t.trim() === '' ? undefined : (parse(t) as unknown);
      props.onChange(mine.current);
      setBad('');
    } catch (err) {
      setBad((err as Error).message.split('\n')[0] ?? 'not YAML');
    }
  };
  return (
    <>
      <textarea id={inputId(props.path)} class="mono yaml-box" rows={Math.min(12, Math.max(3, text.split('\n').length + 1))} value={text} onInput={(e) => onInput(e.currentTarget.value)} />
      {bad && <p class="field-error">YAML: {bad}</p>}
    </>
  );
}

function Scalar(props: FieldProps): JSX.Element {
  const { schema: s, path, value, ctx } = props;
  const id = inputId(path);
  const disabled = ctx.locked.has(path);
  const w = widgetOf(s);
  const placeholder = s.default !== undefined ? String(s.default) : '';
  if (w === 'select') {
    const opts = choices(s) ?? [];
    const blank = !props.required || s.default !== undefined || value === undefined;
    return (
      <select id={id} disabled={disabled} value={typeof value === 'string' ? value : ''} onChange={(e) => props.onChange(e.currentTarget.value === '' ? undefined : e.currentTarget.value)}>
        {blank && <option value="">{s.default !== undefined ? `(default: ${String(s.default)})` : '—'}</option>}
        {opts.map((o) => <option key={o} value={o}>{o}</option>)}
      </select>
    );
  }
  if (w === 'boolean') {
    const checked = typeof value === 'boolean' ? value : s.default === true;
    return <input id={id} type="checkbox" disabled={disabled} checked={checked} onChange={(e) => props.onChange(e.currentTarget.checked)} />;
  }
  if (w === 'number') {
    return (
      <input
        id={id} type="number" disabled={disabled} placeholder={placeholder} step={s.type === 'integer' ? 1 : 'any'}
        {...(s.minimum !== undefined ? { min: s.minimum } : {})} {...(s.maximum !== undefined ? { max: s.maximum } : {})}
        value={typeof value === 'number' ? String(value) : ''}
        onInput={(e) => props.onChange(e.currentTarget.value === '' ? undefined : Number(e.currentTarget.value))}
      />
    );
  }
  // PEM blocks and other multi-line text keep their line breaks in a textarea.
  if ((typeof value === 'string' && value.includes('\n')) || /\bPEM\b/.test(s.description ?? '')) {
    return <textarea id={id} class="mono" disabled={disabled} rows={6} value={typeof value === 'string' ? value : ''} onInput={(e) => props.onChange(e.currentTarget.value === '' && !props.item ? undefined : e.currentTarget.value)} />;
  }
  return (
    <input
      id={id} type="text" disabled={disabled} placeholder={placeholder} value={typeof value === 'string' ? value : value === undefined ? '' : String(value)}
      onInput={(e) => props.onChange(e.currentTarget.value === '' && !props.item ? undefined : e.currentTarget.value)}
    />
  );
}

/** What "Add" puts into an array: an empty object, the first choice, or an empty text. */
function blankItem(s: JsonSchema): unknown {
  const w = widgetOf(s);
  if (w === 'object') return {};
  if (w === 'select') return choices(s)?.[0];
  if (w === 'boolean') return false;
  if (w === 'number') return s.minimum ?? 0;
  return '';
}

function ArrayField(props: FieldProps): JSX.Element {
  const { schema: s, path, ctx } = props;
  const items = Array.isArray(props.value) ? props.value : [];
  const itemSchema = s.items as JsonSchema;
  const set = (next: unknown[]): void => props.onChange(next.length === 0 && !props.required ? undefined : next);
  const objects = widgetOf(itemSchema) === 'object';
  return (
    <fieldset class="field array" data-field={path}>
      <legend>{props.name}{props.required && s.default === undefined ? ' *' : ''}</legend>
      <Help schema={s} />
      <ErrorAt path={path} ctx={ctx} />
      {items.map((v, i) => {
        const p = childPath(path, i);
        const change = (x: unknown): void => set(items.map((old, k) => (k === i ? x : old)));
        const remove = <button type="button" class="small" aria-label={`Remove ${p}`} onClick={() => set(items.filter((_x, k) => k !== i))}>Remove</button>;
        return objects ? (
          <div class="array-item" key={i}>
            <ObjectField name={p} schema={itemSchema} value={v} path={p} required onChange={change} ctx={ctx} extra={remove} />
          </div>
        ) : (
          <div class="array-item inline" key={i} data-field={p}>
            <Scalar name={p} schema={itemSchema} value={v} path={p} required item onChange={change} ctx={ctx} />
            {remove}
            <ErrorAt path={p} ctx={ctx} />
          </div>
        );
      })}
      <button type="button" class="small" onClick={() => set([...items, blankItem(itemSchema)])}>Add to {props.name}</button>
    </fieldset>
  );
}

function ObjectField(props: FieldProps & { extra?: JSX.Element }): JSX.Element {
  const { schema: s, path, ctx } = props;
  if (!isObject(props.value) && !props.required) {
    return (
      <div class="field absent" data-field={path}>
        <button type="button" class="small" onClick={() => props.onChange({})}>Add {props.name}</button>
        <Help schema={s} />
        <ErrorAt path={path} ctx={ctx} />
      </div>
    );
  }
  const obj = isObject(props.value) ? props.value : {};
  return (
    <fieldset class="field object" data-field={path}>
      <legend>{props.name}</legend>
      {props.extra ?? (!props.required && <button type="button" class="small" aria-label={`Remove ${path}`} onClick={() => props.onChange(undefined)}>Remove</button>)}
      <Help schema={s} />
      <ErrorAt path={path} ctx={ctx} />
      <Properties schema={s} value={obj} path={path} onChange={props.onChange} ctx={ctx} />
    </fieldset>
  );
}

function Properties(props: { schema: JsonSchema; value: Record<string, unknown>; path: string; onChange: (v: Record<string, unknown>) => void; ctx: Ctx }): JSX.Element {
  const required = new Set(props.schema.required ?? []);
  return (
    <>
      {Object.entries(props.schema.properties ?? {}).map(([name, s]) => (
        <FieldFor key={name} name={name} schema={s} value={props.value[name]} path={childPath(props.path, name)} required={required.has(name)} ctx={props.ctx}
          onChange={(v) => props.onChange({ ...props.value, [name]: v })} />
      ))}
    </>
  );
}

function FieldFor(props: FieldProps): JSX.Element {
  const w = widgetOf(props.schema);
  if (w === 'object') return <ObjectField {...props} />;
  if (w === 'array') return <ArrayField {...props} />;
  return (
    <Labelled name={props.name} path={props.path} schema={props.schema} required={props.required} ctx={props.ctx}>
      {w === 'yaml' ? <YamlBox path={props.path} value={props.value} onChange={props.onChange} /> : <Scalar {...props} />}
    </Labelled>
  );
}

/** The whole form for one resource: the root object's fields (no fieldset around them). */
export function SchemaForm(props: { schema: JsonSchema; value: Record<string, unknown>; onChange: (v: Record<string, unknown>) => void; error?: FieldError; locked?: string[] }): JSX.Element {
  const ctx: Ctx = { error: props.error, locked: new Set(props.locked ?? []) };
  return (
    <div class="schema-form" data-testid="schema-form">
      <ErrorAt path="" ctx={ctx} />
      <Properties schema={props.schema} value={props.value} path="" onChange={props.onChange} ctx={ctx} />
    </div>
  );
}
