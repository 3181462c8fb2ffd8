/** Pure parts: CIDR longest-prefix match, the quorum rule, the wire codec's edge cases. */
import { describe, expect, it } from 'vitest';
import { CidrTable } from '../../dns/cidr.js';
import { verdicts } from '../../dns/health-quorum.js';
import { parseQuery, encodeResponse, ipv6Bytes, parseIpv6, RCODE, TYPE } from '../../dns/wire.js';
import type { HealthObservation } from '../../src/core/keys.js';
import { buildQuery, Packet } from './helpers.js';

describe('CidrTable', () => {
  const t = new CidrTable([
    { cidr: '10.0.0.0/8', region: 'a' },
    { cidr: '10.1.0.0/16', region: 'b', isp: 'x' },
    { cidr: '10.1.2.128/25', region: 'c' },
    { cidr: '2001:db8::/32', region: 'v6' },
  ]);
  it('longest prefix wins, within the ECS source prefix', () => {
    expect(t.lookup('10.9.9.9')?.region).toBe('a');
    expect(t.lookup('10.1.9.9')).toMatchObject({ region: 'b', isp: 'x', prefix: 16 });
    expect(t.lookup('10.1.2.200')?.region).toBe('c');
    expect(t.lookup('10.1.2.0', 24)?.region).toBe('b'); // a /24 source cannot claim a /25
    expect(t.lookup('::ffff:10.1.2.200')?.region).toBe('c');
    expect(t.lookup('2001:db8:1::1')?.region).toBe('v6');
    expect(t.lookup('192.0.2.1')).toBeUndefined();
  });
});

describe('IPv6 addresses to bytes', () => {
  it('expands ::, keeps an IPv4 tail, and the cached form of node addresses agrees', () => {
    expect(parseIpv6('::1').toString('hex')).toBe('00000000000000000000000000000001');
    expect(parseIpv6('2001:db8::8:1').toString('hex')).toBe('20010db8000000000000000000080001');
    expect(parseIpv6('::ffff:10.1.2.200').toString('hex')).toBe('00000000000000000000ffff0a0102c8');
    expect(parseIpv6('fe80:0:0:0:1:2:3:4').toString('hex')).toBe('fe800000000000000001000200030004');
    expect(ipv6Bytes('2001:db8::8:1').equals(parseIpv6('2001:db8::8:1'))).toBe(true);
  });
});

describe('quorum rule', () => {
  const obs = (up: boolean) => ({ up }) as HealthObservation;
  const m = (entries: Array<[string, boolean]>) => new Map(entries.map(([p, up]) => [p, new Map([['r/c/n', obs(up)]])]));
  it('strict majority of the probers observing the node', () => {
    expect(verdicts(m([['p1', false]])).get('r/c/n')?.down).toBe(true);
    expect(verdicts(m([['p1', false], ['p2', true]])).get('r/c/n')?.down).toBe(false);
    expect(verdicts(m([['p1', false], ['p2', false], ['p3', true]])).get('r/c/n')?.down).toBe(true);
    expect(verdicts(m([['p1', false], ['p2', true], ['p3', true]])).get('r/c/n')?.down).toBe(false);
  });
});

describe('wire', () => {
  it('reads an IPv6 ECS option and the EDNS version', () => {
    const base = buildQuery('x.gw.example.net', Packet.TYPE.A, { edns: true });
    base.writeUInt16BE(12, base.length - 2); // OPT RDLEN: one ECS option follows
    const ecs = Buffer.from([0, 8, 0, 8, 0, 2, 32, 0, 0x20, 0x01, 0x0d, 0xb8]);
    const parsed = parseQuery(Buffer.concat([base, ecs]));
    expect(parsed.kind === 'query' && parsed.query.edns?.ecs).toMatchObject({ family: 2, sourcePrefix: 32, ip: '2001:db8:0:0:0:0:0:0' });
    const v1 = buildQuery('x.gw.example.net', Packet.TYPE.A, { edns: true });
    v1[v1.length - 5] = 1; // OPT TTL: extended rcode 0, version 1
    const p1 = parseQuery(v1);
    expect(p1.kind === 'query' && p1.query.edns?.version).toBe(1);
  });

  it('drops responses and runts, FORMERRs junk after a readable header', () => {
    expect(parseQuery(Buffer.alloc(5)).kind).toBe('drop');
    const resp = buildQuery('a.b', TYPE.A);
    resp[2] = (resp[2] as number) | 0x80;
    expect(parseQuery(resp).kind).toBe('drop');
    const junk = Buffer.concat([buildQuery('a.b', TYPE.A).subarray(0, 12), Buffer.from([0x3f, 1, 2])]);
    expect(parseQuery(junk)).toMatchObject({ kind: 'error', rcode: RCODE.FORMERR });
  });

  it('compresses names and sets TC when over the limit', () => {
    const parsed = parseQuery(buildQuery('v.gw.example.net', TYPE.A));
    if (parsed.kind !== 'query') throw new Error('parse');
    const answers = Array.from({ length: 40 }, (_, i) => ({ name: 'v.gw.example.net', ttl: 5, data: { type: TYPE.A, address: `127.0.0.${i + 1}` } as const }));
    const small = encodeResponse({ ...parsed.query, qname: parsed.query.qname, response: { rcode: 0, aa: true, answers: answers.slice(0, 2), authority: [], additional: [] }, maxSize: 512 });
    expect(small.truncated).toBe(false);
    expect(small.buffer.length).toBe(12 + parsed.query.question.length + 2 * 16); // owner names are 2-byte pointers
    const big = encodeResponse({ ...parsed.query, qname: parsed.query.qname, response: { rcode: 0, aa: true, answers, authority: [], additional: [] }, maxSize: 512 });
    expect(big.truncated).toBe(true);
    expect(Packet.parse(big.buffer).header.tc).toBe(1);
  });
});
