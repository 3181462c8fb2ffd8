import { describe, expect, it } from 'vitest';
import { parseJsonBounded } from '../../src/core/json.js';

describe('parseJsonBounded', () => {
  it('parses JSON up to the depth bound', () => {
    expect(parseJsonBounded(`${'['.repeat(64)}1${']'.repeat(64)}`)).toBeDefined();
    expect(parseJsonBounded('{"a":{"b":[1,2,{"c":null}]}}', 4)).toEqual({ a: { b: [1, 2, { c: null }] } });
  });

  it('refuses nesting past the bound with a SyntaxError, before JSON.parse recurses', () => {
    expect(() => parseJsonBounded(`${'['.repeat(65)}${']'.repeat(65)}`)).toThrow(/nested deeper than 64/);
    expect(() => parseJsonBounded('['.repeat(1_000_000))).toThrow(SyntaxError);
    expect(() => parseJsonBounded('{"a":{"b":{}}}', 2)).toThrow(/deeper than 2/);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(parseJsonBounded(`{"s":"${'['.repeat(100)}\\"${'{'.repeat(100)}"}`, 1)).toEqual({ s: `${'['.repeat(100)}"${'{'.repeat(100)}` });
  });

  it('still refuses malformed JSON', () => {
    expect(() => parseJsonBounded('{"a":')).toThrow(SyntaxError);
  });
});
