import type { Deployment, ResourceKind, Route, RouteVar, VDomain } from '../../src/core/model/index.js';
import { varRegexError } from '../../src/core/safe-regex.js';
import { MeridianError } from '../../src/core/errors/index.js';
import { patternError } from '../../src/router/router.js';
import { checkPluginConfigs } from './plugin-configs.js';
import { invalid } from './invalid.js';

/** Rules the schema cannot state (which optional fields a policy or kind needs). */
export function checkSemantics(kind: ResourceKind, id: string, value: unknown): void {
  if (kind === 'vdomains') checkPolicy(id, value as VDomain);
  if (kind === 'deployments') checkDeployment(id, value as Deployment);
  if (kind === 'routes') {
    checkPaths(value as Route);
    checkVars(value as Route);
  }
  checkPluginConfigs(kind, value);
}

/** The gateways' router would refuse these patterns (and with them the region's whole config). */
function checkPaths(r: Route): void {
  r.paths.forEach((p, i) => {
    const error = patternError(p);
    if (error !== undefined) throw invalid('route', `paths[${i}]`, `${p}: ${error}`);
  });
}

/** Regexes run on client input: the patterns that can backtrack super-linearly are refused. */
function checkVars(r: Route): void {
  const lists: Array<[string, RouteVar[] | undefined]> = [['vars', r.vars], ['split.match', r.split?.match]];
  for (const [name, vars] of lists) {
    vars?.forEach((v, i) => {
      const error = varRegexError(v);
      if (error !== undefined) throw invalid('route', `${name}[${i}].value`, error);
    });
  }
}

function checkPolicy(_id: string, v: VDomain): void {
  const p = v.policy;
  if (p.type === 'pinned' && !(p.regions?.length || p.clusters?.length)) throw invalid('vdomain', 'policy', 'pinned needs regions or clusters');
  if (p.type === 'failover' && !p.regions?.length) throw invalid('vdomain', 'policy.regions', 'failover needs the regions in order');
  if (p.type === 'weighted') {
    const weights = Object.values(p.weights ?? {});
    if (weights.length === 0 || weights.reduce((a, b) => a + b, 0) === 0) throw invalid('vdomain', 'policy.weights', 'weighted needs at least one cluster with a weight above 0');
  }
}

function checkDeployment(id: string, d: Deployment): void {
  const bad = (field: string, reason: string) => new MeridianError('MERIDIAN_ERR_CONTROLLER_DEPLOY_INVALID', { id, reason }, { field });
  const pair = /^[^/]+\/[^/]+$/;
  if (d.kind === 'gateway') {
    if (!d.vdomain) throw bad('vdomain', 'a gateway deployment needs vdomain');
    if (!pair.test(d.from) || !pair.test(d.to)) throw bad(pair.test(d.from) ? 'to' : 'from', 'from and to must be region/cluster pairs');
    if (d.match) throw bad('match', 'match applies to backend deployments only');
  } else if (!d.route) throw bad('route', 'a backend deployment needs route');
  if (d.from === d.to) throw bad('to', 'from and to must differ');
  for (let i = 1; i < d.steps.length; i++) {
    if ((d.steps[i] as number) <= (d.steps[i - 1] as number)) throw bad(`steps[${i}]`, 'steps must increase');
  }
  if (d.match && !d.match.header === !d.match.cookie) throw bad('match', 'match needs exactly one of header or cookie');
}
