import { Type, type Static } from '@sinclair/typebox';
import { ConsulClient } from '../../src/core/consul-client.js';
import { MeridianError } from '../../src/core/errors/index.js';
import { Strict, type Region } from '../../src/core/model/index.js';
import { check } from '../../src/core/validate.js';
import type { CentralMirror } from '../central/mirror.js';
import type { EtcdStore } from '../../src/core/etcd-store.js';
import type { NodeAck, PurgeFanout, PurgeResult } from './fanout.js';
import { drainKey, readRegistration, registerAgain, type DrainRecord } from './drain-record.js';
import { invalidBody } from '../store/invalid.js';

export const DrainRequest = Strict({
  service: Type.String({ minLength: 1, description: 'Consul service name' }),
  instance: Type.String({ minLength: 1, description: 'Consul service id of the instance' }),
  datacenter: Type.String({ minLength: 1, description: 'Consul datacenter (or region name) the instance is registered in' }),
  timeout_ms: Type.Optional(Type.Integer({ minimum: 50, maximum: 60_000, description: 'ack deadline (default: purge.deadline_ms)' })),
});
export type DrainRequest = Static<typeof DrainRequest>;

export const UndrainRequest = Strict({
  instance: DrainRequest.properties.instance,
  datacenter: DrainRequest.properties.datacenter,
  timeout_ms: DrainRequest.properties.timeout_ms,
});
export type UndrainRequest = Static<typeof UndrainRequest>;

/** One step of a drain or undrain as it happens: what `ctl` prints while it waits. */
export interface DrainProgress {
  stage: 'deregistered' | 'catalog' | 'ack' | 'registered' | 'passing';
  message: string;
  /** Since the drain started. */
  ms: number;
}
export type OnProgress = (p: DrainProgress) => void;

export type DrainResult = PurgeResult & { deregistered: boolean; recorded: boolean; phases_ms: { deregister: number; catalog: number; purge: number } };
export type UndrainResult = PurgeResult & { registered: boolean; checks: string[]; checks_not_restored: string[]; passing: boolean };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The platform's drain (the iQIYI flow): record the instance's registration (central etcd,
 * for undrain), deregister it from Consul, wait until Consul's catalog no longer lists it
 * (else a gateway re-resolving right after the purge would cache it again), purge every
 * gateway node, and report who acked. Undrain registers the recorded instance again and
 * purges the service, so the gateways resolve it afresh.
 */
export class Drainer {
  private readonly clients = new Map<string, ConsulClient>();

  constructor(private readonly mirror: CentralMirror, private readonly fanout: PurgeFanout, private readonly central: EtcdStore, private readonly defaultDeadlineMs: number) {}

  parse(body: unknown): DrainRequest {
    return parsed(DrainRequest, body, 'drain request');
  }

  parseUndrain(body: unknown): UndrainRequest {
    return parsed(UndrainRequest, body, 'undrain request');
  }

  private regionFor(datacenter: string): Region & { consul: NonNullable<Region['consul']> } {
    const regions = this.mirror.list('regions').map((r) => r.value as Region);
    const region = regions.find((r) => r.consul?.datacenter === datacenter) ?? regions.find((r) => r.name === datacenter && r.consul);
    if (!region?.consul) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_UNKNOWN_DATACENTER', { datacenter }, { field: 'datacenter' });
    return region as Region & { consul: NonNullable<Region['consul']> };
  }

  private client(http: string): ConsulClient {
    let c = this.clients.get(http);
    if (!c) this.clients.set(http, (c = new ConsulClient(http)));
    return c;
  }

  private allRegions(): Region[] {
    return this.mirror.list('regions').map((r) => r.value as Region);
  }

  async drain(req: DrainRequest, onProgress: OnProgress = () => undefined): Promise<DrainResult> {
    const deadlineMs = req.timeout_ms ?? this.defaultDeadlineMs;
    const region = this.regionFor(req.datacenter);
    const dc = region.consul.datacenter;
    const consul = this.client(region.consul.http);
    const find = async () => (await consul.healthService(req.service, { dc })).value.find((i) => i.id === req.instance);
    const listed = async () => (await find()) !== undefined;
    // Draining twice is fine: an instance Consul no longer lists is already out of the catalog
    // (and the first drain's record is kept).
    const t0 = performance.now();
    const since = () => Math.round((performance.now() - t0) * 10) / 10;
    const entry = await find();
    const deregistered = entry !== undefined;
    let recorded = false;
    if (deregistered) {
      const record = await readRegistration(region.consul.http, { service: req.service, instance: req.instance, datacenter: dc });
      if (record) {
        await this.central.put(drainKey(dc, req.instance), record);
        recorded = true;
      }
      await consul.deregister(req.instance);
    }
    onProgress({ stage: 'deregistered', ms: since(), message: deregistered ? `deregistered ${req.service}/${req.instance} from Consul ${dc}${recorded ? ' (registration recorded for undrain)' : ''}` : `${req.service}/${req.instance} is not registered in ${dc}: purging the whole service` });
    // Gateways learn instances through DNS SRV, which carries no service id: they know an
    // instance by address:port. Unknown (already gone): purge the whole service instead.
    const instance = entry ? `${entry.address}:${entry.port}` : undefined;
    const t1 = performance.now();
    const until = Date.now() + deadlineMs;
    while ((await listed()) && Date.now() < until) await sleep(5);
    const t2 = performance.now();
    onProgress({ stage: 'catalog', ms: since(), message: `Consul's catalog no longer lists ${req.instance}` });
    const result = await this.fanout.purge(this.allRegions(), { service: req.service, datacenter: dc, ...(instance ? { instance } : {}) }, deadlineMs, (a) => onProgress(ackProgress(a, since())));
    const round = (ms: number) => Math.round(ms * 10) / 10;
    return { ...result, deregistered, recorded, phases_ms: { deregister: round(t1 - t0), catalog: round(t2 - t1), purge: result.took_ms } };
  }

  /** 404 `NO_DRAIN` when no drain of this instance is recorded. */
  async undrain(req: UndrainRequest, onProgress: OnProgress = () => undefined): Promise<UndrainResult & { service: string }> {
    const deadlineMs = req.timeout_ms ?? this.defaultDeadlineMs;
    const region = this.regionFor(req.datacenter);
    const dc = region.consul.datacenter;
    const key = drainKey(dc, req.instance);
    const stored = await this.central.get<DrainRecord>(key);
    if (!stored) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_NO_DRAIN', { instance: req.instance, datacenter: dc });
    const rec = stored.value;
    const t0 = performance.now();
    const since = () => Math.round((performance.now() - t0) * 10) / 10;
    await registerAgain(rec);
    onProgress({ stage: 'registered', ms: since(), message: `registered ${rec.service}/${rec.instance} again in Consul ${dc} with ${rec.checks.length} check(s)${rec.checks_unknown.length ? `; not restorable: ${rec.checks_unknown.join(', ')}` : ''}` });
    // Purged before its checks pass, a gateway would resolve the service without it again.
    const consul = this.client(rec.agent);
    const until = Date.now() + deadlineMs;
    let passing = false;
    while (Date.now() < until) {
      const inst = (await consul.healthService(rec.service, { dc })).value.find((i) => i.id === rec.instance);
      if ((passing = inst?.status === 'passing')) break;
      await sleep(20);
    }
    onProgress({ stage: 'passing', ms: since(), message: passing ? `${rec.instance} passes its checks` : `${rec.instance} does not pass its checks yet after ${deadlineMs} ms: purging anyway` });
    const result = await this.fanout.purge(this.allRegions(), { service: rec.service, datacenter: dc }, deadlineMs, (a) => onProgress(ackProgress(a, since())));
    // Kept until every gateway acked, so a failed undrain can be retried.
    if (result.complete) await this.central.delete(key, { expectRevision: stored.modRevision });
    return { ...result, service: rec.service, registered: true, checks: rec.checks.map((c) => c.CheckID), checks_not_restored: rec.checks_unknown, passing };
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

function ackProgress(a: NodeAck, ms: number): DrainProgress {
  return { stage: 'ack', ms, message: `${a.region}/${a.cluster}/${a.node}: ${a.ok ? `acked in ${a.took_ms} ms` : `not acked: ${a.error ?? 'no ack'}`}` };
}

function parsed<T extends typeof DrainRequest | typeof UndrainRequest>(schema: T, body: unknown, kind: string): Static<T> {
  const res = check(schema, body, kind);
  if (!res.ok) throw invalidBody(kind, res);
  return res.value as Static<T>;
}
