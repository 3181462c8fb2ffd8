import { MeridianError } from '../../src/core/errors/index.js';
import { wantsProgress, type ApiServer, type Reply } from './server.js';
import type { DeploymentActions, DeployAction } from '../deploy/actions.js';
import type { Drainer, OnProgress } from '../purge/drain.js';
import type { PurgeResult } from '../purge/fanout.js';
import type { ControllerMetrics } from '../metrics.js';
import type { ControllerStatus } from '../status.js';
import type { DeploymentLive } from '../deploy/live.js';

export interface OpsDeps {
  actions: DeploymentActions;
  drainer: Drainer;
  metrics: ControllerMetrics;
  status: () => Promise<ControllerStatus>;
  /** Per side of a deployment: weight, requests/s and 5xx share from the gateways' metrics. */
  live: (id: string) => Promise<DeploymentLive>;
  leader: () => { id: string | null; api: string | null; is_me: boolean };
  defaultDeadlineMs: number;
}

const notAcked = (r: PurgeResult): string => r.not_acked.map((n) => `${n.region}/${n.cluster}/${n.node} (${n.error ?? 'no ack'})`).join(', ');

/** Deployment actions, drain and undrain, status, leader, metrics and health: the operational endpoints. */
export function registerOpsApi(api: ApiServer, deps: OpsDeps): void {
  for (const action of ['start', 'promote', 'rollback'] as const satisfies readonly DeployAction[]) {
    api.on('POST', `/v1/deployments/:id/${action}`, 'write', `deploy ${action}`, async (req) => {
      const reason = typeof (req.body as { reason?: unknown } | undefined)?.reason === 'string' ? (req.body as { reason: string }).reason : undefined;
      const r = await deps.actions.run(req.params.id ?? '', action, req.principal, reason);
      deps.metrics.deployEvents.inc({ event: action });
      return { status: 200, headers: { etag: `"${r.revision}"` }, body: { revision: r.revision, deployment: r.deployment } };
    });
  }

  api.on('GET', '/v1/deployments/:id/live', 'read', 'a deployment\'s live split: per side its weight, requests/s and 5xx share over the last seconds, from the gateways\' metrics', async (req) => ({
    status: 200, body: await deps.live(req.params.id ?? ''),
  }));

  api.on('POST', '/v1/drain', 'write', 'drain', async (req) => {
    const body = deps.drainer.parse(req.body);
    const run = async (onProgress: OnProgress): Promise<Reply> => {
      const r = await deps.drainer.drain(body, onProgress);
      deps.metrics.purges.inc({ result: r.complete ? 'ok' : r.acked.length > 0 ? 'partial' : 'failed', trigger: 'drain' });
      deps.metrics.purgeSeconds.observe({ trigger: 'drain' }, r.took_ms / 1000);
      if (r.complete) return { status: 200, body: { drained: true, ...r } };
      const err = new MeridianError('MERIDIAN_ERR_CONTROLLER_DRAIN_INCOMPLETE', { service: body.service, instance: body.instance, count: r.not_acked.length, deadline: body.timeout_ms ?? deps.defaultDeadlineMs, nodes: notAcked(r) });
      return { status: err.status, body: { ...err.toJSON(), drained: false, ...r } };
    };
    return wantsProgress(req) ? { status: 200, progress: run } : run(() => undefined);
  });

  api.on('POST', '/v1/undrain', 'write', 'undrain', async (req) => {
    const body = deps.drainer.parseUndrain(req.body);
    const run = async (onProgress: OnProgress): Promise<Reply> => {
      const r = await deps.drainer.undrain(body, onProgress);
      deps.metrics.purges.inc({ result: r.complete ? 'ok' : r.acked.length > 0 ? 'partial' : 'failed', trigger: 'undrain' });
      if (r.complete) return { status: 200, body: { undrained: true, ...r } };
      const err = new MeridianError('MERIDIAN_ERR_CONTROLLER_UNDRAIN_INCOMPLETE', { service: r.service, instance: body.instance, count: r.not_acked.length, deadline: body.timeout_ms ?? deps.defaultDeadlineMs, nodes: notAcked(r) });
      return { status: err.status, body: { ...err.toJSON(), undrained: false, ...r } };
    };
    return wantsProgress(req) ? { status: 200, progress: run } : run(() => undefined);
  });

  api.on('GET', '/v1/status', 'read', 'status', async () => ({ status: 200, body: await deps.status() }));
  api.on('GET', '/v1/leader', 'read', 'leader', async () => ({ status: 200, body: deps.leader() }));
  api.on('GET', '/healthz', null, 'healthz', async () => ({ status: 200, body: { ok: true } }));
  api.on('GET', '/metrics', null, 'metrics', async () => ({ status: 200, text: await deps.metrics.registry.metrics(), headers: { 'content-type': deps.metrics.registry.contentType } }));
}
