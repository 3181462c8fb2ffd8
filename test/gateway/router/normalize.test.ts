import { describe, expect, it } from 'vitest';
import { normaliseTarget } from '../../../src/router/normalize.js';

describe('normaliseTarget', () => {
  it('leaves clean paths alone and splits the query', () => {
    expect(normaliseTarget('/a/b?x=1&y=2')).toEqual({ path: '/a/b', query: '?x=1&y=2' });
    expect(normaliseTarget('/')).toEqual({ path: '/', query: '' });
  });
  it('resolves dot segments and duplicate slashes, also percent-encoded dots', () => {
    expect(normaliseTarget('/a/../admin')?.path).toBe('/admin');
    expect(normaliseTarget('/a/./b//c')?.path).toBe('/a/b/c');
    expect(normaliseTarget('/a/%2e%2e/admin')?.path).toBe('/admin');
    expect(normaliseTarget('/a/%2E/b/')?.path).toBe('/a/b/');
    expect(normaliseTarget('//admin')?.path).toBe('/admin');
  });
  it('refuses what could change the path upstream', () => {
    expect(normaliseTarget('/../etc/passwd')).toBeUndefined();
    expect(normaliseTarget('/a%2f..%2fadmin')).toBeUndefined();
    expect(normaliseTarget('/a\\..\\admin')).toBeUndefined();
    expect(normaliseTarget('http://evil/x')).toBeUndefined();
    expect(normaliseTarget('*')).toBeUndefined();
  });
});
