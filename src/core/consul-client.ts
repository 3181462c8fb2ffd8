import { EventEmitter } from 'node:events';
import Consul from 'consul';
import { MeridianError } from './errors/index.js';

export interface ServiceRegistration {
  id: string;
  name: string;
  address: string;
  port: number;
  tags?: string[];
  meta?: Record<string, string>;
  /** HTTP health check URL; checked every `interval` (default 1s). */
  check?: { http: string; interval?: string; timeout?: string; deregisterAfter?: string } | { ttl: string };
}

export interface ServiceInstance {
  id: string;
  service: string;
  node: string;
  address: string;
  port: number;
  tags: string[];
  status: 'passing' | 'warning' | 'critical';
}

export interface BlockingResult<T> {
  value: T;
  /** X-Consul-Index: pass back as `index` for the next blocking call. */
  index: string;
}

interface RawHealthEntry {
  Node: { Node: string; Address: string };
  Service: { ID: string; Service: string; Address: string; Port: number; Tags: string[] | null };
  Checks: Array<{ Status: 'passing' | 'warning' | 'critical' }>;
}

function worst(checks: RawHealthEntry['Checks']): ServiceInstance['status'] {
  if (checks.some((c) => c.Status === 'critical')) return 'critical';
  if (checks.some((c) => c.Status === 'warning')) return 'warning';
  return 'passing';
}

/** Service meta key holding the check definition a registration was made with (JSON). */
export const CHECK_META_KEY = 'meridian-check';
/** Consul refuses meta values longer than this. */
const CONSUL_META_VALUE_MAX = 512;

/** The part of Consul's HTTP API Meridian uses, over the `consul` package. */
export class ConsulClient {
  readonly address: string;
  private readonly consul: Consul;

  constructor(httpUrl: string) {
    const url = new URL(httpUrl);
    this.address = url.host;
    this.consul = new Consul({ host: url.hostname, port: Number(url.port || 8500), secure: url.protocol === 'https:' });
  }

  private fail(operation: string, err: unknown): MeridianError {
    const e = err as Error & { code?: string };
    if (e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || e.code === 'ETIMEDOUT') {
      return new MeridianError('MERIDIAN_ERR_CONSUL_UNAVAILABLE', { address: this.address, reason: e.message }, { cause: err });
    }
    return new MeridianError('MERIDIAN_ERR_CONSUL_REQUEST', { operation, reason: e.message }, { cause: err });
  }

  async leader(): Promise<string> {
    try {
      return (await this.consul.status.leader()) as string;
    } catch (err) {
      throw this.fail('status.leader', err);
    }
  }

  async register(reg: ServiceRegistration): Promise<void> {
    const check = reg.check === undefined ? undefined
      : 'ttl' in reg.check ? { ttl: reg.check.ttl }
      : { http: reg.check.http, interval: reg.check.interval ?? '1s', timeout: reg.check.timeout ?? '1s', ...(reg.check.deregisterAfter ? { deregistercriticalserviceafter: reg.check.deregisterAfter } : {}) };
    // Consul (1.8) does not return a check's definition through its API: it is kept in the
    // service's meta so a drain can re-register the instance with it (controller undrain).
    const checkJson = check === undefined ? undefined : JSON.stringify(check);
    const meta = { ...(reg.meta ?? {}), ...(checkJson && checkJson.length <= CONSUL_META_VALUE_MAX ? { [CHECK_META_KEY]: checkJson } : {}) };
    try {
      await this.consul.agent.service.register({
        id: reg.id, name: reg.name, address: reg.address, port: reg.port, tags: reg.tags ?? [], meta,
        ...(check ? { check } : {}),
      } as unknown as Parameters<Consul['agent']['service']['register']>[0]);
    } catch (err) {
      throw this.fail('agent.service.register', err);
    }
  }

  async deregister(serviceId: string): Promise<void> {
    try {
      await this.consul.agent.service.deregister(serviceId);
    } catch (err) {
      throw this.fail('agent.service.deregister', err);
    }
  }

  /** Sets a TTL check's state (check id `service:<serviceId>`). */
  async setTtlCheck(serviceId: string, status: 'pass' | 'warn' | 'fail', note = ''): Promise<void> {
    try {
      const id = `service:${serviceId}`;
      if (status === 'pass') await this.consul.agent.check.pass({ id, note });
      else if (status === 'warn') await this.consul.agent.check.warn({ id, note });
      else await this.consul.agent.check.fail({ id, note });
    } catch (err) {
      throw this.fail('agent.check', err);
    }
  }

  /**
   * Instances of a service with their aggregated health. With `index`, a blocking query
   * that returns when the result changes or `wait` (default 30s) passes.
   */
  async healthService(
    service: string,
    options: { dc?: string; passing?: boolean; tag?: string; index?: string; wait?: string; signal?: AbortSignal } = {},
  ): Promise<BlockingResult<ServiceInstance[]>> {
    // papi (under `consul`) honours ctx only when it is an EventEmitter: without that the
    // response (and its X-Consul-Index) is not returned. 'cancel' on it aborts the request.
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
    const onAbort = () => ctx.emit('cancel');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = (await this.consul.health.service({
        service,
        ...(options.dc ? { dc: options.dc } : {}),
        ...(options.tag ? { tag: options.tag } : {}),
        ...(options.passing ? { passing: true } : {}),
        ...(options.index ? { index: options.index, wait: options.wait ?? '30s' } : {}),
        ctx,
      } as unknown as Parameters<Consul['health']['service']>[0])) as unknown as [{ headers: Record<string, string> }, RawHealthEntry[]];
      const [res, body] = result;
      return {
        index: res.headers['x-consul-index'] ?? '0',
        value: body.map((e) => ({
          id: e.Service.ID,
          service: e.Service.Service,
          node: e.Node.Node,
          address: e.Service.Address || e.Node.Address,
          port: e.Service.Port,
          tags: e.Service.Tags ?? [],
          status: worst(e.Checks),
        })),
      };
    } catch (err) {
      throw this.fail('health.service', err);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async datacenters(): Promise<string[]> {
    try {
      return (await this.consul.catalog.datacenters()) as string[];
    } catch (err) {
      throw this.fail('catalog.datacenters', err);
    }
  }

  /** Creates a prepared query that fails over to other datacenters; returns its id. */
  async createFailoverQuery(name: string, service: string, failover: { nearestN?: number; datacenters?: string[] }, onlyPassing = true): Promise<string> {
    try {
      const res = (await this.consul.query.create({
        name,
        service: {
          service,
          onlypassing: onlyPassing,
          failover: { ...(failover.nearestN !== undefined ? { nearestn: failover.nearestN } : {}), ...(failover.datacenters ? { datacenters: failover.datacenters } : {}) },
        },
      } as unknown as Parameters<Consul['query']['create']>[0])) as { ID: string };
      return res.ID;
    } catch (err) {
      throw this.fail('query.create', err);
    }
  }

  close(): void {
    this.consul.destroy();
  }
}
