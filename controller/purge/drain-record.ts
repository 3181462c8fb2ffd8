import { CHECK_META_KEY } from '../../src/core/consul-client.js';
import { MeridianError } from '../../src/core/errors/index.js';

/** A check as Consul's agent registration API takes it (the fields a drain can restore). */
export interface CheckDefinition {
  CheckID: string;
  Name: string;
  Notes?: string;
  HTTP?: string;
  TCP?: string;
  TTL?: string;
  Interval?: string;
  Timeout?: string;
  Method?: string;
  Header?: Record<string, string[]>;
  TLSSkipVerify?: boolean;
  DeregisterCriticalServiceAfter?: string;
}

/**
 * What a drain recorded (central etcd `controller/drains/<datacenter>/<instance>`): the
 * instance's registration as the Consul agent held it, so `undrain` can register it again.
 */
export interface DrainRecord {
  service: string;
  instance: string;
  datacenter: string;
  /** The Consul agent (HTTP URL) it was deregistered from and is registered again on. */
  agent: string;
  at: string;
  registration: { ID: string; Name: string; Tags: string[]; Meta: Record<string, string>; Address: string; Port: number; EnableTagOverride: boolean };
  checks: CheckDefinition[];
  /** Checks whose definition Consul did not give (nor the registration's meta): not restorable. */
  checks_unknown: string[];
}

export const drainKey = (datacenter: string, instance: string): string => `controller/drains/${datacenter}/${instance}`;

const TIMEOUT_MS = 5_000;

interface AgentService { ID: string; Service: string; Tags: string[] | null; Meta: Record<string, string> | null; Address: string; Port: number; EnableTagOverride?: boolean }
interface AgentCheck { CheckID: string; Name: string; Notes?: string; ServiceID: string; Type?: string; Definition?: Record<string, unknown> }

async function agentGet<T>(agent: string, path: string): Promise<T | undefined> {
  let res: Response;
  try {
    res = await fetch(new URL(path, agent), { signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    throw new MeridianError('MERIDIAN_ERR_CONSUL_UNAVAILABLE', { address: agent, reason: (err as Error).message }, { cause: err });
  }
  if (res.status === 404) return undefined;
  if (!res.ok) throw new MeridianError('MERIDIAN_ERR_CONSUL_REQUEST', { operation: `GET ${path}`, reason: `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}` });
  return (await res.json()) as T;
}

/** A check's definition: Consul's own when it gives one (newer versions), else Meridian's meta. */
function definition(c: AgentCheck, fromMeta: Record<string, unknown> | undefined): CheckDefinition | undefined {
  const d = c.Definition ?? {};
  const base = { CheckID: c.CheckID, Name: c.Name, ...(c.Notes ? { Notes: c.Notes } : {}) };
  if (typeof d.HTTP === 'string' && d.HTTP) return { ...base, HTTP: d.HTTP, Interval: String(d.Interval), Timeout: String(d.Timeout), ...(d.Method ? { Method: String(d.Method) } : {}) };
  if (typeof d.TCP === 'string' && d.TCP) return { ...base, TCP: d.TCP, Interval: String(d.Interval), Timeout: String(d.Timeout) };
  // The registration's own check (id service:<id>) as Meridian's ConsulClient registered it.
  if (fromMeta && c.CheckID === `service:${c.ServiceID}`) {
    if (typeof fromMeta.ttl === 'string') return { ...base, TTL: fromMeta.ttl };
    if (typeof fromMeta.http === 'string') {
      return {
        ...base, HTTP: fromMeta.http, Interval: String(fromMeta.interval ?? '10s'), Timeout: String(fromMeta.timeout ?? '5s'),
        ...(typeof fromMeta.deregistercriticalserviceafter === 'string' ? { DeregisterCriticalServiceAfter: fromMeta.deregistercriticalserviceafter } : {}),
      };
    }
  }
  return undefined;
}

/** Reads the instance's registration and checks from the agent it is registered on; undefined if it has none. */
export async function readRegistration(agent: string, req: { service: string; instance: string; datacenter: string }): Promise<DrainRecord | undefined> {
  const svc = await agentGet<AgentService>(agent, `/v1/agent/service/${encodeURIComponent(req.instance)}`);
  if (!svc) return undefined;
  const all = (await agentGet<Record<string, AgentCheck>>(agent, '/v1/agent/checks')) ?? {};
  let fromMeta: Record<string, unknown> | undefined;
  try {
    fromMeta = svc.Meta?.[CHECK_META_KEY] ? (JSON.parse(svc.Meta[CHECK_META_KEY]) as Record<string, unknown>) : undefined;
  } catch {
    fromMeta = undefined;
  }
  const checks: CheckDefinition[] = [];
  const unknown: string[] = [];
  for (const c of Object.values(all).filter((x) => x.ServiceID === req.instance && !x.CheckID.startsWith('_service_maintenance'))) {
    const d = definition(c, fromMeta);
    if (d) checks.push(d);
    else unknown.push(c.CheckID);
  }
  return {
    service: req.service, instance: req.instance, datacenter: req.datacenter, agent, at: new Date().toISOString(),
    registration: { ID: svc.ID, Name: svc.Service, Tags: svc.Tags ?? [], Meta: svc.Meta ?? {}, Address: svc.Address, Port: svc.Port, EnableTagOverride: svc.EnableTagOverride ?? false },
    checks, checks_unknown: unknown,
  };
}

/** Registers the recorded instance again, with every check whose definition was recorded. */
export async function registerAgain(rec: DrainRecord): Promise<void> {
  let res: Response;
  try {
    res = await fetch(new URL('/v1/agent/service/register', rec.agent), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...rec.registration, Checks: rec.checks }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    throw new MeridianError('MERIDIAN_ERR_CONSUL_UNAVAILABLE', { address: rec.agent, reason: (err as Error).message }, { cause: err });
  }
  if (!res.ok) throw new MeridianError('MERIDIAN_ERR_CONSUL_REQUEST', { operation: 'agent.service.register', reason: `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}` });
}
