import type { Deployment, Route, RouteVar, VDomain, VDomainPolicy } from '../../src/core/model/index.js';
import { MeridianError } from '../../src/core/errors/index.js';
import type { ResourceService } from '../store/resource-service.js';
import { audit, type Actor } from '../store/audit.js';
import type { WriteOp } from '../store/resource-store.js';

export type DeployAction = 'start' | 'promote' | 'rollback';

interface Target {
  kind: 'routes' | 'vdomains';
  id: string;
  value: Route | VDomain;
  revision: number;
}

/** What a step writes on the target: a route's split, or a virtual domain's weights. */
function withWeight(d: Deployment, target: Target, weight: number): Route | VDomain {
  if (d.kind === 'backend') {
    const route = structuredClone(target.value as Route);
    const match: RouteVar[] | undefined = d.match ? [{ source: d.match.header ? 'header' : 'cookie', name: (d.match.header ?? d.match.cookie) as string, op: 'eq', value: d.match.value }] : undefined;
    route.split = { upstream_id: d.to, weight, ...(match ? { match } : {}) };
    return route;
  }
  const vd = structuredClone(target.value as VDomain);
  vd.policy = { type: 'weighted', weights: { [d.from]: 100 - weight, [d.to]: weight } };
  return vd;
}

/** The end state once promoted: all traffic on the new side, no split left behind. */
function finalized(d: Deployment, target: Target): Route | VDomain {
  if (d.kind === 'backend') {
    const route = structuredClone(target.value as Route);
    delete route.split;
    route.upstream_id = d.to;
    return route;
  }
  return withWeight(d, target, 100);
}

/** Before the first step the target's original setting is kept in the history, for rollback. */
function original(d: Deployment, target: Target): string {
  return JSON.stringify(d.kind === 'backend' ? { split: (target.value as Route).split ?? null } : { policy: (target.value as VDomain).policy });
}

function restored(d: Deployment, target: Target): Route | VDomain {
  // The last start: a restarted deployment rolls back to what the target had at its restart.
  const saved = d.history.findLast((h) => h.event === 'started')?.detail;
  const before = saved ? (JSON.parse(saved) as { split?: Route['split'] | null; policy?: VDomainPolicy }) : {};
  if (d.kind === 'backend') {
    const route = structuredClone(target.value as Route);
    if (before.split) route.split = before.split;
    else delete route.split;
    return route;
  }
  const vd = structuredClone(target.value as VDomain);
  vd.policy = before.policy ?? { type: 'weighted', weights: { [d.from]: 100, [d.to]: 0 } };
  return vd;
}

/**
 * Deployment transitions. Each one is a single etcd transaction over the deployment and its
 * target (route or virtual domain), both guarded by the revisions read, so two replicas (an
 * operator's promote racing the leader's timer, say) can never both apply a step.
 */
export class DeploymentActions {
  constructor(private readonly svc: ResourceService) {}

  private async target(d: Deployment): Promise<Target> {
    const kind = d.kind === 'backend' ? 'routes' : 'vdomains';
    const id = (d.kind === 'backend' ? d.route : d.vdomain) as string;
    const s = await this.svc.require<Route | VDomain>(kind, id);
    return { kind, id, value: s.value, revision: s.revision };
  }

  async run(id: string, action: DeployAction, actor: Actor, reason?: string): Promise<{ deployment: Deployment; revision: number }> {
    const stored = await this.svc.require<Deployment>('deployments', id);
    const d = structuredClone(stored.value);
    const target = await this.target(d);
    const at = new Date().toISOString();
    const refuse = () => new MeridianError('MERIDIAN_ERR_CONTROLLER_DEPLOY_STATE', { id, state: d.state, action });
    let next: Route | VDomain;
    if (action === 'start' || (action === 'promote' && d.state === 'pending')) {
      // A rolled-back deployment starts again from step 0 (its history is kept); a promoted one
      // is final: its target now points at `to`, so another change is a new deployment.
      if (d.state !== 'pending' && !(action === 'start' && d.state === 'rolled_back')) throw refuse();
      await this.ensureOnlyActive(d);
      if (d.state === 'rolled_back') d.history.push({ at, event: 'restarted', detail: `by ${actor.name}` });
      d.history.push({ at, event: 'started', detail: original(d, target) });
      d.state = 'running';
      d.step = 0;
      next = withWeight(d, target, d.steps[0] as number);
      d.history.push({ at, event: 'step', detail: `${d.steps[0]}% to ${d.to}${reason ? ` (${reason})` : ''}` });
    } else if (action === 'promote') {
      if (d.state !== 'running') throw refuse();
      d.step += 1;
      if (d.step >= d.steps.length) {
        d.step = d.steps.length - 1;
        d.state = 'promoted';
        next = finalized(d, target);
        d.history.push({ at, event: 'promoted', detail: `all traffic on ${d.to}${reason ? ` (${reason})` : ''}` });
      } else {
        next = withWeight(d, target, d.steps[d.step] as number);
        d.history.push({ at, event: 'step', detail: `${d.steps[d.step]}% to ${d.to}${reason ? ` (${reason})` : ''}` });
      }
    } else {
      if (d.state !== 'running') throw refuse();
      d.state = 'rolled_back';
      next = restored(d, target);
      d.history.push({ at, event: 'rolled_back', detail: reason ?? `by ${actor.name}` });
    }
    // A last step of 100% is the promotion itself: nothing is left to wait for.
    if (d.state === 'running' && d.step === d.steps.length - 1 && d.steps[d.step] === 100) {
      d.state = 'promoted';
      next = finalized(d, { ...target, value: next });
      d.history.push({ at, event: 'promoted', detail: `all traffic on ${d.to}` });
    }
    const ops: WriteOp[] = [
      { kind: 'deployments', id, value: d, expectRevision: stored.revision },
      { kind: target.kind, id: target.id, value: this.svc.validate(target.kind, target.id, next), expectRevision: target.revision },
    ];
    const revision = await this.svc.commit(ops, [audit(actor, { action: `deploy ${action}`, kind: 'deployments', id, fromRevision: stored.revision, detail: reason, before: stored.value, after: d })]);
    return { deployment: d, revision };
  }

  /** One active deployment per route or virtual domain: two would fight over the same weights. */
  private async ensureOnlyActive(d: Deployment): Promise<void> {
    const { items } = await this.svc.list<Deployment>('deployments');
    const other = items.find((i) => i.id !== d.id && i.value.state === 'running' && i.value.kind === d.kind && (d.kind === 'backend' ? i.value.route === d.route : i.value.vdomain === d.vdomain));
    if (other) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_DEPLOY_BUSY', { other: other.id, target: d.kind === 'backend' ? `route ${d.route}` : `vdomain ${d.vdomain}` });
  }
}
