/** The stages of the answer pipeline; their order is declared (and explained) in pipeline.ts. */
import type { Stage, QueryContext, PipelineEnv } from './pipeline.js';
import type { VDomainPolicy } from '../src/core/model/index.js';
import { parseQuery, encodeResponse, udpLimit, typeName, rcodeName, RCODE, TYPE, CLASS_IN, type Response, type Rr } from './wire.js';
import { owningZone, soaRecord, nsRecords, nsAddressRecords, isNameserver, apexTxt } from './zone-data.js';
import { steer } from './steering.js';

function fail(ctx: QueryContext, rcode: number): void {
  ctx.response = { rcode, aa: false, answers: [], authority: [], additional: [] };
  ctx.done = true;
}

export const parseStage: Stage = {
  name: 'parse',
  always: false,
  run(ctx) {
    const parsed = parseQuery(ctx.raw);
    ctx.parsed = parsed;
    if (parsed.kind === 'drop') {
      ctx.done = true;
      return;
    }
    if (parsed.kind === 'error') {
      fail(ctx, parsed.rcode);
      return;
    }
    ctx.query = parsed.query;
    // CHAOS and other classes are not ours: no version.bind fingerprinting either.
    if (parsed.query.qclass !== CLASS_IN && parsed.query.qclass !== 255) fail(ctx, RCODE.REFUSED);
  },
};

export const ednsStage: Stage = {
  name: 'edns',
  always: false,
  run(ctx) {
    if (ctx.query?.edns && ctx.query.edns.version > 0) fail(ctx, RCODE.BADVERS); // RFC 6891 §6.1.3
  },
};

export const zoneStage: Stage = {
  name: 'zone',
  always: false,
  run(ctx, env) {
    const q = ctx.query;
    if (!q) return;
    const zone = owningZone(env.settings, q.qname);
    if (zone === undefined) fail(ctx, RCODE.REFUSED);
    else ctx.zone = zone;
  },
};

export const locateStage: Stage = {
  name: 'locate',
  always: false,
  run(ctx, env) {
    const ecs = ctx.query?.edns?.ecs;
    const cidrs = env.topology().cidrs;
    // RFC 7871 §7.1.2: a source prefix of 0 means "do not use my subnet": fall back to the resolver.
    if (ecs && ecs.sourcePrefix > 0) {
      const hit = cidrs.lookup(ecs.ip, ecs.sourcePrefix);
      ctx.location = hit ? { region: hit.region, ...(hit.isp ? { isp: hit.isp } : {}), scope: hit.prefix } : { scope: ecs.sourcePrefix };
      return;
    }
    const hit = cidrs.lookup(ctx.peer);
    ctx.location = hit ? { region: hit.region, ...(hit.isp ? { isp: hit.isp } : {}), scope: 0 } : { scope: 0 };
  },
};

function negative(resp: Response, ctx: QueryContext, env: PipelineEnv, rcode: number, zone: string): void {
  resp.rcode = rcode;
  resp.authority.push(soaRecord(env.settings, zone, env.topology().revision));
  void ctx;
}

/** Steered A/AAAA records of `owner`; false when there is none (the caller answers NODATA). */
function addresses(ctx: QueryContext, env: PipelineEnv, resp: Response, owner: string, policy: VDomainPolicy, records: number, ttl: number, backup = 0): boolean {
  const q = ctx.query;
  if (!q) return false;
  const qtype = q.qtype === TYPE.ANY ? TYPE.A : q.qtype;
  if (qtype !== TYPE.A && qtype !== TYPE.AAAA) return false;
  const loc = ctx.location ?? { scope: 0 };
  const steered = steer(env.topology(), {
    policy,
    location: loc,
    ...(env.settings.defaultRegion ? { defaultRegion: env.settings.defaultRegion } : {}),
    family: qtype === TYPE.A ? 4 : 6,
    records,
    backup,
    rotation: env.nextRotation(),
  });
  ctx.steered = steered;
  // The scope says how far this answer may be reused: only location-dependent answers narrow it.
  if (policy.type !== 'failover' && policy.type !== 'weighted') resp.ecsScope = loc.scope;
  if (steered.level === 'fail_open') env.onFailOpen(owner);
  for (const n of steered.nodes) {
    resp.answers.push({ name: owner, ttl, data: qtype === TYPE.A ? { type: TYPE.A, address: n.address } : { type: TYPE.AAAA, address: n.address } });
  }
  return steered.nodes.length > 0;
}

const NEAREST: VDomainPolicy = { type: 'nearest' };

export const answerStage: Stage = {
  name: 'answer',
  always: false,
  run(ctx, env) {
    const q = ctx.query;
    const zone = ctx.zone;
    if (!q || zone === undefined) return;
    const s = env.settings;
    const topo = env.topology();
    const resp: Response = { rcode: RCODE.NOERROR, aa: true, answers: [], authority: [], additional: [], ecsScope: 0 };
    ctx.response = resp;
    const qname = q.qname;

    if (qname === zone) {
      const soa = soaRecord(s, zone, topo.revision);
      if (q.qtype === TYPE.SOA || q.qtype === TYPE.ANY) resp.answers.push({ ...soa, ttl: s.soaTtl });
      if (q.qtype === TYPE.NS || q.qtype === TYPE.ANY) {
        resp.answers.push(...nsRecords(s, zone));
        resp.additional.push(...nsAddressRecords(s, TYPE.ANY));
      }
      if (q.qtype === TYPE.TXT || q.qtype === TYPE.ANY) resp.answers.push(...apexTxt(s, zone));
      if (resp.answers.length === 0) negative(resp, ctx, env, RCODE.NOERROR, zone);
      return;
    }

    if (zone === s.zone) {
      if (isNameserver(s, qname)) {
        resp.answers.push(...nsAddressRecords(s, q.qtype, qname));
        if (resp.answers.length === 0) negative(resp, ctx, env, RCODE.NOERROR, zone);
        return;
      }
      if (qname === s.unified) {
        if (!addresses(ctx, env, resp, qname, NEAREST, s.records, s.ttl)) negative(resp, ctx, env, RCODE.NOERROR, zone);
        return;
      }
      const label = qname.slice(0, -(zone.length + 1));
      const vd = label.includes('.') ? undefined : topo.vdomains.get(label);
      if (vd) {
        if (!addresses(ctx, env, resp, qname, vd.policy, vd.records, vd.ttl, vd.backup_records)) negative(resp, ctx, env, RCODE.NOERROR, zone);
        return;
      }
      negative(resp, ctx, env, RCODE.NXDOMAIN, zone);
      return;
    }

    // A delegated business zone: bound names are CNAMEs to their virtual domain.
    const dot = qname.indexOf('.');
    const binding = topo.bindings.get(qname) ?? (dot > 0 ? topo.bindings.get(`*${qname.slice(dot)}`) : undefined);
    if (!binding) {
      negative(resp, ctx, env, RCODE.NXDOMAIN, zone);
      return;
    }
    const target = `${binding.vdomain.toLowerCase()}.${s.zone}`;
    const cname: Rr = { name: qname, ttl: s.soaTtl, data: { type: TYPE.CNAME, target } };
    resp.answers.push(cname);
    if (q.qtype === TYPE.CNAME) return;
    const vd = topo.vdomains.get(binding.vdomain.toLowerCase());
    if (!vd) {
      // The chain ends at a name that does not exist (RFC 6604: rcode is the last name's).
      negative(resp, ctx, env, RCODE.NXDOMAIN, s.zone);
      return;
    }
    // The target's records in the same answer: one round trip for the client's resolver.
    if (!addresses(ctx, env, resp, target, vd.policy, vd.records, vd.ttl, vd.backup_records)) negative(resp, ctx, env, RCODE.NOERROR, s.zone);
  },
};

export const encodeStage: Stage = {
  name: 'encode',
  always: true,
  run(ctx, env) {
    const resp = ctx.response;
    const parsed = ctx.parsed;
    if (!resp || !parsed || parsed.kind === 'drop') return;
    const q = ctx.query;
    const edns = q?.edns;
    const base = parsed.kind === 'query' ? parsed.query : parsed;
    const question = parsed.kind === 'query' ? parsed.query.question : parsed.question;
    const maxSize = ctx.transport === 'udp' ? udpLimit(edns, env.udpSize) : 65_535;
    const { buffer, truncated } = encodeResponse({
      id: base.id,
      opcode: base.opcode,
      rd: base.rd,
      ...(q ? { cd: q.cd, qname: q.qname } : {}),
      ...(question ? { question } : {}),
      ...(edns ? { edns } : {}),
      response: resp,
      maxSize,
    });
    ctx.out = buffer;
    ctx.truncated = truncated;
  },
};

export const accountStage: Stage = {
  name: 'account',
  always: true,
  run(ctx, env) {
    const m = env.metrics;
    const parsed = ctx.parsed;
    if (!parsed || parsed.kind === 'drop') {
      m.malformed.inc({ transport: ctx.transport, result: 'dropped' });
      return;
    }
    if (parsed.kind === 'error') {
      m.malformed.inc({ transport: ctx.transport, result: rcodeName(parsed.rcode) });
      return;
    }
    const rcode = ctx.response?.rcode ?? RCODE.SERVFAIL;
    m.queries.inc({ qtype: typeName(parsed.query.qtype), rcode: rcodeName(rcode), region: ctx.steered?.cluster?.region ?? '' });
    const level = ctx.steered?.level;
    if (level && level !== 'none') m.failovers.inc({ level });
  },
};
