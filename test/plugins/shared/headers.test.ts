import { describe, expect, it } from 'vitest';
import type { IncomingHttpHeaders } from 'node:http';
import { header } from '../../../src/plugins/shared/headers.js';

/** A request as node:http gives it: the raw list, and `headers` built from it by node's rules. */
function req(raw: string[], headers: IncomingHttpHeaders) {
  let built = 0;
  return {
    rawHeaders: raw,
    get headers() {
      built++;
      return headers;
    },
    built: () => built,
  };
}

describe('header()', () => {
  it('reads a header sent once from the raw list, any case, without building req.headers', () => {
    const r = req(['Host', 'a.test', 'X-Tenant', 't1', 'apikey', 'k1'], { host: 'a.test', 'x-tenant': 't1', apikey: 'k1' });
    expect(header(r, 'x-tenant')).toBe('t1');
    expect(header(r, 'X-TENANT')).toBe('t1');
    expect(header(r, 'apikey')).toBe('k1');
    expect(header(r, 'missing')).toBeUndefined();
    expect(r.built()).toBe(0);
  });

  it('a repeated header keeps node:http meaning (joined, or the first for set-cookie)', () => {
    const r = req(['apikey', 'a', 'APIKEY', 'b', 'set-cookie', 'c1', 'set-cookie', 'c2'], { apikey: 'a, b', 'set-cookie': ['c1', 'c2'] });
    expect(header(r, 'apikey')).toBe('a, b');
    expect(header(r, 'set-cookie')).toBe('c1');
  });

  it('names differing only in bit 0x20 outside letters are different names', () => {
    // '^' (0x5e) and '~' (0x7e) are both token characters.
    const r = req(['x^y', 'v'], { 'x^y': 'v' });
    expect(header(r, 'x~y')).toBeUndefined();
    expect(header(r, 'x^y')).toBe('v');
  });

  it('a context without a raw list (built in a test) reads req.headers', () => {
    expect(header({ headers: { 'x-k': 't7' } }, 'X-K')).toBe('t7');
  });
});
