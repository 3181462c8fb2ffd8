import { MeridianError } from '../../src/core/errors/index.js';
import { EXIT, type CtlClient } from './client.js';
import { waitForRegions } from './apply.js';

/** The fields of a deployment `ctl deploy` shows. */
export interface DeploymentView {
  state: string;
  step: number;
  steps: number[];
  to: string;
  interval_s?: number;
  history: Array<{ at: string; event: string; detail?: string }>;
}

export function deploymentLine(d: DeploymentView): string {
  return `${d.state}${d.state === 'running' ? `, step ${d.step + 1}/${d.steps.length}: ${d.steps[d.step]}% on ${d.to}` : ''}`;
}

/** Between two looks at the deployment: an operator-facing poll, not a test sleep. */
const POLL_MS = 250;

/**
 * `deploy ... --wait`: a line per region until its nodes serve the action's revision; then, for
 * a deployment its timer moves on (interval_s), a line per step as the controller takes it
 * (and its regions again) until promoted (exit 0) or rolled back (exit 1).
 */
export async function followDeployment(api: CtlClient, o: { id: string; deployment: DeploymentView; revision: number; timeoutMs: number; say: (line: string) => void }): Promise<number> {
  const deadline = Date.now() + o.timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  await waitForRegions(api, o.revision, left(), o.say);
  let d = o.deployment;
  let seen = d.history.length;
  while (d.state === 'running' && d.interval_s) {
    if (Date.now() >= deadline) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_CTL_DEPLOY_WAIT_TIMEOUT', { id: o.id, state: deploymentLine(d), timeout: o.timeoutMs });
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const r = await api.call('GET', `/v1/deployments/${encodeURIComponent(o.id)}`);
    d = r.body as unknown as DeploymentView;
    if (d.history.length === seen) continue;
    for (const h of d.history.slice(seen)) o.say(`deployment ${o.id}: ${h.event}${h.detail ? ` ${h.detail}` : ''}`);
    seen = d.history.length;
    await waitForRegions(api, Number((r.etag ?? '0').replace(/"/g, '')), left(), o.say);
  }
  o.say(`deployment ${o.id}: ${deploymentLine(d)}`);
  // Rolled back while followed (its error rate): the deploy failed.
  return d.state === 'rolled_back' && o.deployment.state === 'running' ? EXIT.error : EXIT.ok;
}
