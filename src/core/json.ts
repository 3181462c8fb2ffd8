import { JSON_MAX_DEPTH, jsonTooDeep } from './json-depth.js';

/**
 * JSON.parse for text from a client, with nesting bounded first: V8's parser (and every schema
 * check after it) recurses per level, so 100,000 `[` would end in "Maximum call stack size
 * exceeded" (a 500) instead of a refusal. Throws a SyntaxError for bad JSON and for nesting
 * deeper than maxDepth.
 */
export function parseJsonBounded(text: string, maxDepth = JSON_MAX_DEPTH): unknown {
  if (jsonTooDeep(text, maxDepth)) throw new SyntaxError(`JSON nested deeper than ${maxDepth} levels`);
  return JSON.parse(text) as unknown;
}
