/** Deepest JSON nesting accepted from a client by default. */
export const MAX_JSON_DEPTH = 64;

/**
 * JSON.parse for text from a client, with nesting bounded first: V8's parser recurses per
 * level, so 100,000 `[` would end in "Maximum call stack size exceeded" (a 500) instead of a
 * refusal. One linear pass over the text (strings and their escapes skipped), then
 * JSON.parse. Throws a SyntaxError for bad JSON and for nesting deeper than maxDepth.
 */
export function parseJsonBounded(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) throw new SyntaxError(`JSON nested deeper than ${maxDepth} levels`);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return JSON.parse(text) as unknown;
}
