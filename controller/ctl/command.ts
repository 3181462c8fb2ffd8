import { stringify as toYaml } from 'yaml';
import type { Command } from '../../src/core/command.js';
import { parseCommandArgs } from '../../src/core/command.js';
import { MeridianError, isMeridianError } from '../../src/core/errors/index.js';
import type { ResourceKind } from '../../src/core/model/index.js';
import { ApiFailure, CtlClient, EXIT } from './client.js';
import { COLUMNS, kindFromName } from './kinds.js';
import { manifest, manifestsYaml, readManifest } from './manifest.js';
import { table } from './table.js';
import type { ControllerStatus } from '../status.js';
import { applyBody, applyFile, diffText, dumpAll, postApply, resultLines, waitForRegions } from './apply.js';
import { statusHealthy, statusTable } from './status-view.js';
import { top } from './top.js';
import { deploymentLine, followDeployment, type DeploymentView } from './follow.js';

const HELP = `meridian ctl: operator CLI over the controller API

Usage: meridian ctl [options] <command> [args]

Commands:
  apply -f FILE [--dry-run] [--prune [--yes]] [--wait]
                                  create, update (and with --prune delete) every {kind, spec}
                                  document (multi-doc YAML; - = stdin) in one atomic request
  diff -f FILE [--prune]          what apply would change, as a unified diff (exit 1 if anything)
  sync -f FILE [--yes] [--wait]   apply --prune: the kinds in FILE end up exactly as FILE says
  dump                            every resource as manifests (secrets redacted unless admin)
  get KIND [ID]                   list a kind, or show one resource (-o yaml: manifests)
  describe KIND ID                one resource as a manifest with its revision (metadata)
  delete KIND ID | delete -f FILE delete (refused with exit 4 while still referenced)
  vdomain create [--policy nearest|pinned|weighted|failover] [--regions a,b]
                 [--clusters r/c,..] [--weights r/c=N,..] [--records N] [--ttl S] [--description T]
  vdomain bind DOMAIN UUID        bind a business domain; prints the CNAME to publish
  deploy start (-f FILE | ID) [--wait]
                                  create (from a file) and start a deployment: its first step;
                                  a rolled-back one starts again from its first step
  deploy promote ID [--wait]      next step (after the last one: all traffic on the new side)
  deploy rollback ID [--reason T] [--wait]
                                  back to the old side
  drain --service S --instance I --datacenter D [--timeout MS]
                                  record and deregister from Consul, purge every gateway,
                                  wait for acks (each stage and ack on stderr as it comes)
  undrain --instance I --datacenter D [--timeout MS]
                                  register a drained instance again from the drain's record,
                                  then purge every gateway so they resolve it
  status                          each region and gateway node (registered or named by its
                                  cluster definition): state, revisions, the probers' view;
                                  exit 1 unless every region is in_sync (or has no etcd)
  audit                           the newest audit records (admin)
  top [--once]                    requests/s, 4xx/s, 5xx/s and p99 per region and per route
                                  (GET /v1/traffic), redrawn every 2 s; --once: print once
                                  (waiting up to --timeout for the controller's first rates)

Options:
  -s, --server URL   controller API (default $MERIDIAN_CTL_SERVER or http://127.0.0.1:9180)
  -t, --token TOKEN  bearer token (default $MERIDIAN_CTL_TOKEN)
  -o, --output FMT   table (default), json or yaml
  -f, --file FILE    manifest for apply, diff, sync, delete and deploy start
      --dry-run      apply: the controller validates everything, writes nothing
      --prune        apply: delete what FILE no longer names, within the kinds it holds
  -y, --yes          apply --prune, sync: delete without asking
      --wait         apply, sync, deploy: wait until every region's nodes serve the new
                     revision (a line per region on stderr for deploy); deploy: with a timer
                     (interval_s), follow it step by step until promoted or rolled back
      --timeout MS   drain and undrain deadline; --wait limit (default 60000); top --once:
                     longest wait for rates (default 30000)
  -h, --help         this text

KIND: routes, upstreams, consumers, ssl, global_rules, regions, vdomains, bindings, deployments
(singular and capitalised forms work too).

Export, edit, apply: ctl get routes -o yaml > routes.yaml; edit; ctl diff -f routes.yaml;
ctl apply -f routes.yaml (ctl dump > all.yaml for everything). Secrets read with a token below
admin are "<redacted: admin only>"; applied back, the stored secret is kept.

Exit codes: 0 ok, 1 other failure (diff: something would change; status: a region not
in_sync), 2 usage (a prune not confirmed), 3 not found, 4 conflict (revision, reference,
exists, wrong state), 5 authentication or role, 6 controller unreachable, 7 drain not acked
by every gateway, 8 invalid input (validation).
`;

const OPTIONS = {
  server: { type: 'string', short: 's' },
  token: { type: 'string', short: 't' },
  output: { type: 'string', short: 'o' },
  file: { type: 'string', short: 'f' },
  help: { type: 'boolean', short: 'h' },
  policy: { type: 'string' },
  regions: { type: 'string' },
  clusters: { type: 'string' },
  weights: { type: 'string' },
  records: { type: 'string' },
  ttl: { type: 'string' },
  description: { type: 'string' },
  service: { type: 'string' },
  instance: { type: 'string' },
  datacenter: { type: 'string' },
  timeout: { type: 'string' },
  reason: { type: 'string' },
  'dry-run': { type: 'boolean' },
  prune: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  wait: { type: 'boolean' },
  once: { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>['values'];

function usage(reason: string): MeridianError {
  return new MeridianError('MERIDIAN_ERR_CLI_USAGE', { command: 'ctl', reason });
}

const out = (s: string) => process.stdout.write(s);
const errOut = (s: string) => process.stderr.write(s);

function needKind(name: string | undefined): ResourceKind {
  if (!name) throw usage('KIND is required');
  const kind = kindFromName(name);
  if (!kind) throw usage(`unknown kind ${name}`);
  return kind;
}

function print(format: string, value: unknown, asTable: () => string): void {
  if (format === 'json') out(`${JSON.stringify(value, null, 2)}\n`);
  else if (format === 'yaml') out(toYaml(value));
  else out(asTable());
}

async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs('ctl', argv, OPTIONS);
  const v: Values = args.values;
  const [verb, ...pos] = args.positionals;
  if (v.help || verb === undefined || verb === 'help') {
    out(HELP);
    return verb === undefined && !v.help ? EXIT.usage : EXIT.ok;
  }
  const format = v.output ?? 'table';
  if (!['table', 'json', 'yaml'].includes(format)) throw usage(`--output must be table, json or yaml, got ${format}`);
  const api = new CtlClient(v.server ?? process.env.MERIDIAN_CTL_SERVER ?? 'http://127.0.0.1:9180', v.token ?? process.env.MERIDIAN_CTL_TOKEN);

  switch (verb) {
    case 'apply':
    case 'sync': {
      if (!v.file) throw usage(`${verb} needs -f FILE`);
      const answer = await applyFile(api, { file: v.file, dryRun: v['dry-run'] === true, prune: verb === 'sync' || v.prune === true, yes: v.yes === true });
      print(format, answer, () => resultLines(answer));
      const changed = answer.items.some((i) => i.result !== 'unchanged');
      if (v.wait && !answer.dry_run && changed) return waitForRegions(api, answer.revision, v.timeout ? Number(v.timeout) : 60_000, (line) => (format === 'table' ? out : errOut)(`${line}\n`));
      return EXIT.ok;
    }
    case 'diff': {
      if (!v.file) throw usage('diff needs -f FILE');
      const answer = await postApply(api, applyBody(v.file, v.prune === true, true));
      const changed = answer.items.filter((i) => i.result !== 'unchanged');
      print(format, changed, () => diffText(answer));
      return changed.length > 0 ? EXIT.error : EXIT.ok;
    }
    case 'dump': {
      const docs = await dumpAll(api);
      out(format === 'json' ? `${JSON.stringify(docs, null, 2)}\n` : manifestsYaml(docs));
      return EXIT.ok;
    }
    case 'get': {
      const kind = needKind(pos[0]);
      if (pos[1]) {
        const r = await api.call('GET', `/v1/${kind}/${encodeURIComponent(pos[1])}`);
        if (format === 'yaml') return (out(manifestsYaml([manifest(kind, r.body)])), EXIT.ok);
        print(format, r.body, () => table(['ID', ...COLUMNS[kind].map((c) => c[0]), 'REVISION'], [[pos[1] as string, ...COLUMNS[kind].map((c) => c[1](r.body)), (r.etag ?? '').replace(/"/g, '')]]));
        return EXIT.ok;
      }
      const r = await api.call('GET', `/v1/${kind}`);
      const items = r.body.items as Array<{ id: string; revision: number; value: Record<string, unknown> }>;
      if (format === 'yaml') return (out(manifestsYaml(items.map((i) => manifest(kind, i.value)))), EXIT.ok);
      print(format, items.map((i) => i.value), () => table(['ID', ...COLUMNS[kind].map((c) => c[0]), 'REVISION'], items.map((i) => [i.id, ...COLUMNS[kind].map((c) => c[1](i.value)), String(i.revision)])));
      return EXIT.ok;
    }
    case 'describe': {
      const kind = needKind(pos[0]);
      if (!pos[1]) throw usage('describe needs KIND and ID');
      const r = await api.call('GET', `/v1/${kind}/${encodeURIComponent(pos[1])}`);
      const revision = Number((r.etag ?? '0').replace(/"/g, ''));
      // A manifest: `apply -f` takes it back and ignores the metadata.
      print(format === 'table' ? 'yaml' : format, manifest(kind, r.body, { id: pos[1], revision }), () => '');
      return EXIT.ok;
    }
    case 'delete': {
      const targets = v.file ? readManifest(v.file).reverse().map((i) => ({ kind: i.kind, id: i.id })) : [{ kind: needKind(pos[0]), id: pos[1] ?? '' }];
      for (const t of targets) {
        if (!t.id) throw usage('delete needs KIND and ID (or -f FILE)');
        await api.call('DELETE', `/v1/${t.kind}/${encodeURIComponent(t.id)}`);
        if (format === 'table') out(`${t.kind}/${t.id} deleted\n`);
      }
      if (format !== 'table') print(format, targets, () => '');
      return EXIT.ok;
    }
    case 'vdomain':
      return vdomain(api, pos, v, format);
    case 'deploy':
      return deploy(api, pos, v, format);
    case 'drain':
    case 'undrain': {
      if (!v.instance || !v.datacenter || (verb === 'drain' && !v.service)) throw usage(`${verb} needs ${verb === 'drain' ? '--service, ' : ''}--instance and --datacenter`);
      const body = { ...(verb === 'drain' ? { service: v.service } : {}), instance: v.instance, datacenter: v.datacenter, ...(v.timeout ? { timeout_ms: Number(v.timeout) } : {}) };
      try {
        // Each stage and gateway ack on stderr as it happens; stdout keeps only the result.
        // An undrain waits up to the deadline twice: for the instance's checks, then for the acks.
        const r = await api.progress('POST', `/v1/${verb}`, body, (p) => errOut(`${String(p.message)}\n`), v.timeout ? 2 * Number(v.timeout) + 5_000 : undefined);
        const acked = (r.body.acked as unknown[]).length;
        print(format, r.body, () => (verb === 'drain'
          ? `drained ${v.service}/${v.instance}: ${acked} gateway node(s) acked in ${String(r.body.took_ms)} ms\n`
          : `undrained ${String(r.body.service)}/${v.instance}: registered with ${(r.body.checks as unknown[]).length} check(s), ${acked} gateway node(s) acked in ${String(r.body.took_ms)} ms\n`));
        const lost = r.body.checks_not_restored as string[] | undefined;
        if (lost?.length) errOut(`warning: checks not restored (Consul gave no definition): ${lost.join(', ')}\n`);
        return EXIT.ok;
      } catch (err) {
        if (err instanceof ApiFailure && format !== 'table') print(format, err.body, () => '');
        throw err;
      }
    }
    case 'status': {
      const r = await api.call('GET', '/v1/status');
      const st = r.body as unknown as ControllerStatus;
      print(format, st, () => statusTable(st));
      return statusHealthy(st) ? EXIT.ok : EXIT.error;
    }
    case 'top': {
      const r = await top(api, { once: v.once === true || format !== 'table', timeoutMs: v.timeout ? Number(v.timeout) : 30_000, tty: process.stdout.isTTY === true, write: format === 'table' ? out : () => undefined });
      if (format !== 'table') print(format, r, () => '');
      return EXIT.ok;
    }
    case 'audit': {
      const r = await api.call('GET', '/v1/audit?limit=50');
      const items = r.body.items as Array<Record<string, string> & { changed?: string[] }>;
      // What changed is named here; the values before and after are in -o json / yaml.
      print(format, items, () => table(['AT', 'WHO', 'ACTION', 'KIND', 'ID', 'CHANGED'], items.map((a) => [a.at ?? '', a.who ?? '', a.action ?? '', a.kind ?? '', a.id ?? '', a.changed ? a.changed.join(',') : '-'])));
      return EXIT.ok;
    }
    default:
      throw usage(`unknown command ${verb}`);
  }
}

async function vdomain(api: CtlClient, pos: string[], v: Values, format: string): Promise<number> {
  const [sub, ...rest] = pos;
  if (sub === 'create') {
    const split = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);
    const weights = v.weights ? Object.fromEntries(split(v.weights)?.map((w) => {
      const [k, n] = w.split('=');
      if (!k || n === undefined || !/^\d+$/.test(n)) throw usage(`--weights entries are region/cluster=N, got ${w}`);
      return [k, Number(n)];
    }) ?? []) : undefined;
    const policy = { type: v.policy ?? (weights ? 'weighted' : 'nearest'), ...(v.regions ? { regions: split(v.regions) } : {}), ...(v.clusters ? { clusters: split(v.clusters) } : {}), ...(weights ? { weights } : {}) };
    const body = { policy, ...(v.records ? { records: Number(v.records) } : {}), ...(v.ttl ? { ttl: Number(v.ttl) } : {}), ...(v.description ? { description: v.description } : {}) };
    const r = await api.call('POST', '/v1/vdomains', body);
    print(format, r.body, () => `${String((r.body.value as { name: string }).name)}\n`);
    return EXIT.ok;
  }
  if (sub === 'bind') {
    const [domain, uuid] = rest;
    if (!domain || !uuid) throw usage('vdomain bind needs DOMAIN and UUID');
    const r = await api.call('PUT', `/v1/bindings/${encodeURIComponent(domain)}`, { domain, vdomain: uuid });
    if (typeof r.body.warning === 'string') errOut(`warning: ${r.body.warning}\n`);
    print(format, r.body, () => `binding ${domain} ${String(r.body.result)}; publish this record:\n  ${(r.body.cname as { record: string }).record}\n`);
    return EXIT.ok;
  }
  throw usage('vdomain needs create or bind');
}

async function deploy(api: CtlClient, pos: string[], v: Values, format: string): Promise<number> {
  const [sub, idArg] = pos;
  if (sub !== 'start' && sub !== 'promote' && sub !== 'rollback') throw usage('deploy needs start, promote or rollback');
  let id = idArg;
  if (sub === 'start' && v.file) {
    const items = readManifest(v.file).filter((i) => i.kind === 'deployments');
    if (items.length !== 1) throw usage('deploy start -f needs a file with exactly one deployment');
    const item = items[0] as { id: string; spec: Record<string, unknown> };
    await api.call('PUT', `/v1/deployments/${encodeURIComponent(item.id)}`, item.spec);
    id = item.id;
  }
  if (!id) throw usage(`deploy ${sub} needs ID`);
  const r = await api.call('POST', `/v1/deployments/${encodeURIComponent(id)}/${sub}`, v.reason ? { reason: v.reason } : {});
  const d = r.body.deployment as DeploymentView;
  print(format, r.body, () => `deployment ${id}: ${deploymentLine(d)}\n`);
  if (!v.wait) return EXIT.ok;
  return followDeployment(api, { id, deployment: d, revision: Number(r.body.revision), timeoutMs: v.timeout ? Number(v.timeout) : 60_000, say: (line) => errOut(`${line}\n`) });
}

export const ctlCommand: Command = {
  name: 'ctl',
  summary: 'operator CLI over the controller API',
  help: HELP,
  run: async (argv) => {
    try {
      return await run(argv);
    } catch (err) {
      if (err instanceof ApiFailure) {
        process.stderr.write(`error: ${err.message}\n`);
        return err.exitCode;
      }
      if (isMeridianError(err, 'MERIDIAN_ERR_CONTROLLER_CTL_UNREACHABLE')) {
        process.stderr.write(`error: ${err.message} [${err.code}]\n`);
        return EXIT.unreachable;
      }
      throw err;
    }
  },
};
