import { BlockList, isIP } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import { Strict } from '../core/model/index.js';
import type { Plugin, RequestContext, ShortCircuit } from './contract.js';
import { limitRejected } from './shared/metrics.js';
import { deny } from './shared/respond.js';

const Entry = Type.String({ minLength: 2, description: 'IPv4/IPv6 address or CIDR' });

export const IpRestrictionConfig = Strict({
  allow: Type.Array(Entry, { default: [], description: 'only these may pass when not empty (default [])' }),
  deny: Type.Array(Entry, { default: [], description: 'these never pass; deny wins over allow (default [])' }),
});
export type IpRestrictionConfig = Static<typeof IpRestrictionConfig>;

function parse(entry: string): { ip: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [ip = '', prefixText] = entry.split('/');
  const v = isIP(ip);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
  if (prefix < 0 || prefix > max) return undefined;
  return { ip, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

function list(entries: readonly string[]): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const b = new BlockList();
  for (const e of entries) {
    const p = parse(e);
    if (p) b.addSubnet(p.ip, p.prefix, p.family);
  }
  return b;
}

const compiled = new WeakMap<IpRestrictionConfig, { allow: BlockList | undefined; deny: BlockList | undefined }>();

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) is checked as 10.0.0.1. */
function normalise(ip: string): { ip: string; family: 'ipv4' | 'ipv6' } {
  if (ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4) return { ip: ip.slice(7), family: 'ipv4' };
  return { ip, family: isIP(ip) === 6 ? 'ipv6' : 'ipv4' };
}

function rewrite(ctx: RequestContext, cfg: IpRestrictionConfig): ShortCircuit | undefined {
  let c = compiled.get(cfg);
  if (!c) {
    c = { allow: list(cfg.allow), deny: list(cfg.deny) };
    compiled.set(cfg, c);
  }
  const { ip, family } = normalise(ctx.clientIp);
  const refused = isIP(ip) === 0 || (c.deny?.check(ip, family) ?? false) || (c.allow ? !c.allow.check(ip, family) : false);
  if (!refused) return undefined;
  limitRejected.inc({ plugin: 'ip-restriction', route: ctx.route.id });
  return deny('MERIDIAN_ERR_PLUGIN_FORBIDDEN');
}

/** ip-restriction: allow and deny lists of addresses and CIDRs, IPv4 and IPv6. */
export const ipRestriction: Plugin<IpRestrictionConfig> = {
  name: 'ip-restriction',
  version: '1.0.0',
  priority: 3000,
  schema: IpRestrictionConfig,
  check: (cfg) => {
    for (const key of ['allow', 'deny'] as const) {
      const i = cfg[key].findIndex((e) => parse(e) === undefined);
      if (i >= 0) return { field: `${key}[${i}]`, reason: `"${cfg[key][i]}" is not an IPv4/IPv6 address or CIDR` };
    }
    return undefined;
  },
  // rewrite, before the auth plugins: a refused address costs no credential check.
  phases: { rewrite },
};
