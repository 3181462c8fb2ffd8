import { describe, expect, it } from 'vitest';
import { REGEX_INPUT_MAX, REGEX_PATTERN_MAX, regexError } from '../../src/core/safe-regex.js';
import { RuntimeBuilder } from '../../src/gateway/build.js';
import { builtinRegistry } from '../../src/plugins/index.js';
import { compileVars, RequestFacts } from '../../src/router/vars.js';

// Issue 16 item 10: `^(a+)+$` stalled a gateway worker 2.6 s on 29 `a` and `!`.
describe('regexError: the safe-regex rules', () => {
  const table: Array<[pattern: string, verdict: 'ok' | RegExp]> = [
    // Ordinary patterns are accepted.
    ['^v[0-9]+$', 'ok'],
    ['^(beta|canary)$', 'ok'],
    ['^\\d+\\.\\d+\\.\\d+$', 'ok'],
    ['Chrome/[0-9]+', 'ok'],
    ['^Mozilla/.*Chrome', 'ok'],
    ['^[a-z]{2}-[0-9]{3}$', 'ok'],
    ['[^,]+,[^,]+', 'ok'],
    ['(a|b)+c', 'ok'],
    ['(?:x|y)?z+', 'ok'],
    ['^(?<ver>v\\d+)$', 'ok'],
    ['a{', 'ok'], // Annex B: a literal brace
    ['.*', 'ok'],
    // 1. backreferences
    ['(a)\\1', /^backreference \\1/],
    ['(?<n>a)\\k<n>', /^backreference \\k/],
    // 2. lookaround
    ['(?=a)b', /^lookaround/],
    ['(?<!a)b', /^lookaround/],
    // 3. nested quantifiers
    ['^(a+)+$', /^nested quantifier/],
    ['(\\w+\\s?)*$', /^nested quantifier/],
    ['^(a?){25}a{25}$', /^nested quantifier/],
    ['((ab)*)+', /^nested quantifier/],
    // 4. ambiguous alternation inside a repeated group
    ['(a|a)*', /^alternatives in a repeated group/],
    ['(ab|ac)+', /^alternatives in a repeated group/],
    ['(a|)+', /^alternatives in a repeated group/],
    ['(\\d|[0-5])+', /^alternatives in a repeated group/],
    // 5. overlapping variable-length repeats one after the other
    ['\\d+\\d+', /^two variable-length repeats/],
    ['.*a.*', /^two variable-length repeats/],
    ['a*b?a*', /^two variable-length repeats/],
    ['\\x41+\\u0041+', /^two variable-length repeats/],
    // syntax errors are reported as such
    ['(a', /Unterminated group/],
    ['x'.repeat(REGEX_PATTERN_MAX + 1), /^pattern longer than/],
  ];
  it.each(table)('%s', (pattern, verdict) => {
    const error = regexError(pattern);
    if (verdict === 'ok') expect(error).toBeUndefined();
    else expect(error).toMatch(verdict);
  });
});

describe('route vars regexes', () => {
  const facts = (value: string) => new RequestFacts({ headers: { 'x-v': value } }, '');

  it('are never evaluated on a value longer than REGEX_INPUT_MAX (a 10 KB hostile header does no regex work)', () => {
    const match = compileVars([{ source: 'header', name: 'x-v', op: 'regex', value: '^a+$' }]);
    expect(match(facts('a'.repeat(REGEX_INPUT_MAX)))).toBe(true);
    // Same pattern, one character more: not evaluated, so no match, whatever the pattern costs.
    expect(match(facts('a'.repeat(REGEX_INPUT_MAX + 1)))).toBe(false);
    let ran = 0;
    const test = RegExp.prototype.test;
    RegExp.prototype.test = function (this: RegExp, s: string) {
      ran++;
      return test.call(this, s);
    };
    try {
      expect(compileVars([{ source: 'header', name: 'x-v', op: 'regex', value: '(a|b)+c' }])(facts('a'.repeat(10_240)))).toBe(false);
    } finally {
      RegExp.prototype.test = test;
    }
    expect(ran).toBe(0);
  });

  it('an unsafe pattern that reached the router never matches (it is not run)', () => {
    expect(compileVars([{ source: 'header', name: 'x-v', op: 'regex', value: '^(a+)+$' }])(facts('aaa'))).toBe(false);
  });

  it('a standalone gateway config with an unsafe pattern is refused, naming the route', () => {
    const config = { revision: 1, upstreams: [{ id: 'up', nodes: [{ host: '127.0.0.1', port: 9 }] }], routes: [{ id: 'r', paths: ['/'], upstream_id: 'up', vars: [{ source: 'header', name: 'x-v', op: 'regex', value: '^(a+)+$' }] }] };
    expect(() => RuntimeBuilder.dryRun(config, builtinRegistry(), undefined)).toThrow(/^config rejected: route r: vars x-v: nested quantifier/);
  });
});
