import { createInterface } from 'node:readline/promises';
import { stringify as toYaml } from 'yaml';
import { MeridianError } from '../../src/core/errors/index.js';
import type { ResourceKind } from '../../src/core/model/index.js';
import type { ControllerStatus } from '../status.js';
import { EXIT, type CtlClient } from './client.js';
import { APPLY_ORDER } from './kinds.js';
import { manifest, readManifest } from './manifest.js';
import { unifiedDiff } from './text-diff.js';

/** One resource in the answer of POST /v1/apply. */
export interface AppliedItem {
  kind: ResourceKind;
  id: string;
  result: 'created' | 'updated' | 'unchanged' | 'deleted';
  before?: unknown;
  after?: unknown;
  cname?: { record: string };
}

export interface ApplyAnswer {
  dry_run: boolean;
  revision: number;
  items: AppliedItem[];
}

export interface ApplyOptions {
  file: string;
  dryRun: boolean;
  /** Delete what the file no longer names, within the kinds it holds. */
  prune: boolean;
  /** Prune without asking. */
  yes: boolean;
}

const WORD = { created: 'created', updated: 'configured', unchanged: 'unchanged', deleted: 'deleted' } as const;

/** The file as one request: every document, and (with prune) the kinds it holds. */
export function applyBody(file: string, prune: boolean, dryRun: boolean): Record<string, unknown> {
  const items = readManifest(file);
  return {
    resources: items.map((i) => ({ kind: i.kind, spec: i.spec })),
    dry_run: dryRun,
    ...(prune ? { prune: { kinds: [...new Set(items.map((i) => i.kind))] } } : {}),
  };
}

export async function postApply(api: CtlClient, body: Record<string, unknown>): Promise<ApplyAnswer> {
  return (await api.call('POST', '/v1/apply', body)).body as unknown as ApplyAnswer;
}

export function resultLines(answer: ApplyAnswer): string {
  const tail = answer.dry_run ? ' (dry run)' : '';
  return answer.items.map((i) => `${i.kind}/${i.id} ${WORD[i.result]}${tail}${i.cname ? `  (publish: ${i.cname.record})` : ''}\n`).join('');
}

/** A prune deletes: on a terminal ask, else insist on --yes (a pipe cannot answer). */
async function confirmDeletes(deleted: AppliedItem[], opts: ApplyOptions): Promise<void> {
  if (deleted.length === 0 || opts.yes) return;
  const names = deleted.map((d) => `${d.kind}/${d.id}`).join(', ');
  if (!process.stdin.isTTY || opts.file === '-') {
    throw new MeridianError('MERIDIAN_ERR_CLI_USAGE', { command: 'ctl', reason: `this would delete ${deleted.length} resource(s) (${names}); pass --yes to confirm` });
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`delete ${deleted.length} resource(s) the file no longer names: ${names}? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new MeridianError('MERIDIAN_ERR_CLI_USAGE', { command: 'ctl', reason: 'not confirmed: nothing written' });
  } finally {
    rl.close();
  }
}

/** apply -f / sync -f: one atomic request (after a dry run to confirm what a prune deletes). */
export async function applyFile(api: CtlClient, opts: ApplyOptions): Promise<ApplyAnswer> {
  if (opts.prune && !opts.dryRun && !opts.yes) {
    const preview = await postApply(api, applyBody(opts.file, true, true));
    await confirmDeletes(preview.items.filter((i) => i.result === 'deleted'), opts);
  }
  return postApply(api, applyBody(opts.file, opts.prune, opts.dryRun));
}

const asYaml = (v: unknown): string => (v === undefined ? '' : toYaml(v));

/** The changes a dry run reports, as unified diffs of each resource's YAML. */
export function diffText(answer: ApplyAnswer): string {
  return answer.items
    .filter((i) => i.result !== 'unchanged')
    .map((i) => {
      const name = `${i.kind}/${i.id}`;
      return unifiedDiff(asYaml(i.before), asYaml(i.after), { from: i.before === undefined ? '/dev/null' : `${name} (stored)`, to: i.after === undefined ? '/dev/null' : `${name} (file)` });
    })
    .join('');
}

/** Every resource of every kind, as manifests, in apply order (secrets as the token's role may see them). */
export async function dumpAll(api: CtlClient): Promise<Array<Record<string, unknown>>> {
  const docs: Array<Record<string, unknown>> = [];
  for (const kind of APPLY_ORDER) {
    const r = await api.call('GET', `/v1/${kind}`);
    for (const item of r.body.items as Array<{ value: unknown }>) docs.push(manifest(kind, item.value));
  }
  return docs;
}


/** Between two looks at the status while waiting: an operator-facing poll, not a test sleep. */
const POLL_MS = 250;

/**
 * After an apply at `revision`: waits until every region's etcd holds the config it implies and
 * every node registered there (and not seen down) serves it, printing a line per region each
 * time its progress changes. Regions without etcd have nothing to wait for.
 */
export async function waitForRegions(api: CtlClient, revision: number, timeoutMs: number, say: (line: string) => void): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const shown = new Map<string, string>();
  let pending: string[] = [];
  let target = revision;
  while (Date.now() < deadline) {
    const s = (await api.call('GET', '/v1/status')).body as unknown as ControllerStatus;
    if (s.central_revision >= revision) {
      // What the regions must reach: the newest data-plane change, which may predate this apply.
      target = s.config_revision;
      pending = [];
      for (const r of s.regions) {
        let line: string;
        if (r.state === 'no_etcd') line = `${r.region}: no etcd, nothing to wait for`;
        else {
          const serving = r.nodes.filter((n) => n.registered && n.state !== 'down');
          const at = serving.filter((n) => (n.config_revision ?? 0) >= target).length;
          const done = (r.applied_revision ?? 0) >= target && at === serving.length;
          if (!done) pending.push(r.region);
          line = `${r.region}: ${done ? 'serves' : 'waiting for'} revision ${target}: config at ${r.applied_revision ?? '-'}, ${at}/${serving.length} node(s)`;
        }
        if (shown.get(r.region) !== line) say(line);
        shown.set(r.region, line);
      }
      if (pending.length === 0) return EXIT.ok;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new MeridianError('MERIDIAN_ERR_CONTROLLER_CTL_WAIT_TIMEOUT', { revision: target, timeout: timeoutMs, regions: pending.join(', ') || 'the controller has not seen the apply' });
}
