import { Type, type Static } from '@sinclair/typebox';
import { ConsulClient } from '../../src/core/consul-client.js';
import { MeridianError } from '../../src/core/errors/index.js';
import { Strict, type Region } from '../../src/core/model/index.js';
import { check } from '../../src/core/validate.js';
import type { CentralMirror } from '../central/mirror.js';
import type { PurgeFanout, PurgeResult } from './fanout.js';

export const DrainRequest = Strict({
  service: Type.String({ minLength: 1, description: 'Consul service name' }),
  instance: Type.String({ minLength: 1, description: 'Consul service id of the instance' }),
  datacenter: Type.String({ minLength: 1, description: 'Consul datacenter (or region name) the instance is registered in' }),
  timeout_ms: Type.Optional(Type.Integer({ minimum: 50, maximum: 60_000, description: 'ack deadline (default: purge.deadline_ms)' })),
});
export type DrainRequest = Static<typeof DrainRequest>;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The platform's drain (the iQIYI flow): deregister the instance from Consul, wait until
 * Consul's catalog no longer lists it (else a gateway re-resolving right after the purge would
 * cache it again), purge every gateway node, and report who acked.
 */
export class Drainer {
  private readonly clients = new Map<string, ConsulClient>();

  constructor(private readonly mirror: CentralMirror, private readonly fanout: PurgeFanout, private readonly defaultDeadlineMs: number) {}

  parse(body: unknown): DrainRequest {
    const res = check(DrainRequest, body, 'drain');
    if (!res.ok) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_INVALID', { kind: 'drain request', field: res.field, reason: res.reason });
    return res.value;
  }

  private regionFor(datacenter: string): Region & { consul: NonNullable<Region['consul']> } {
    const regions = this.mirror.list('regions').map((r) => r.value as Region);
    const region = regions.find((r) => r.consul?.datacenter === datacenter) ?? regions.find((r) => r.name === datacenter && r.consul);
    if (!region?.consul) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_UNKNOWN_DATACENTER', { datacenter });
    return region as Region & { consul: NonNullable<Region['consul']> };
  }

  private client(http: string): ConsulClient {
    let c = this.clients.get(http);
    if (!c) this.clients.set(http, (c = new ConsulClient(http)));
    return c;
  }

  async drain(req: DrainRequest): Promise<PurgeResult & { deregistered: boolean; phases_ms: { deregister: number; catalog: number; purge: number } }> {
    const deadlineMs = req.timeout_ms ?? this.defaultDeadlineMs;
    const region = this.regionFor(req.datacenter);
    const dc = region.consul.datacenter;
    const consul = this.client(region.consul.http);
    const find = async () => (await consul.healthService(req.service, { dc })).value.find((i) => i.id === req.instance);
    const listed = async () => (await find()) !== undefined;
    // Draining twice is fine: an instance Consul no longer lists is already out of the catalog.
    const t0 = performance.now();
    const entry = await find();
    const deregistered = entry !== undefined;
    if (deregistered) await consul.deregister(req.instance);
    // Gateways learn instances through DNS SRV, which carries no service id: they know an
    // instance by address:port. Unknown (already gone): purge the whole service instead.
    const instance = entry ? `${entry.address}:${entry.port}` : undefined;
    const t1 = performance.now();
    const until = Date.now() + deadlineMs;
    while ((await listed()) && Date.now() < until) await sleep(5);
    const t2 = performance.now();
    const regions = this.mirror.list('regions').map((r) => r.value as Region);
    const result = await this.fanout.purge(regions, { service: req.service, datacenter: dc, ...(instance ? { instance } : {}) }, deadlineMs);
    const round = (ms: number) => Math.round(ms * 10) / 10;
    return { ...result, deregistered, phases_ms: { deregister: round(t1 - t0), catalog: round(t2 - t1), purge: result.took_ms } };
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
