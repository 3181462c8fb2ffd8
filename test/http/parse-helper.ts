import { RequestParser, DEFAULT_PARSER_LIMITS, type ParserLimits, type RequestHead } from '../../src/http/parser.js';

export interface ParsedMessage {
  method: string;
  url: string;
  version: string;
  headers: string[];
  body: string;
  complete: boolean;
  trailers?: string[];
}

export interface ParseOutcome {
  messages: ParsedMessage[];
  heads: RequestHead[];
  error: string | null;
  upgradeRest: string | null;
  idle: boolean;
}

/**
 * Runs the parser over `input` cut into pieces of `step` bytes (Infinity: one piece); bodies as
 * latin1. With `reuse`, every piece is pushed from one scratch buffer, as the engine's shared
 * read buffer does: release() after each push, then the scratch is overwritten with garbage.
 */
export function parseAll(input: Buffer, limits: Partial<ParserLimits> = {}, step = Infinity, reuse = false): ParseOutcome {
  const messages: ParsedMessage[] = [];
  const heads: RequestHead[] = [];
  let current: ParsedMessage | null = null;
  const parser = new RequestParser({
    onHead(head) {
      heads.push(head);
      current = { method: head.method, url: head.url, version: `1.${head.versionMinor}`, headers: head.rawHeaders, body: '', complete: false };
      messages.push(current);
    },
    onBody(chunk) { (current as ParsedMessage).body += chunk.toString('latin1'); },
    onMessageComplete(trailers) {
      const m = current as ParsedMessage;
      m.complete = true;
      if (heads[heads.length - 1]?.chunked) m.trailers = trailers;
    },
  }, { ...DEFAULT_PARSER_LIMITS, ...limits });
  let next = 0;
  while (next < input.length && !parser.error && !parser.upgraded) {
    const end = Math.min(input.length, next + step);
    if (reuse) {
      const scratch = Buffer.allocUnsafe(end - next);
      input.copy(scratch, 0, next, end);
      parser.push(scratch);
      parser.release();
      scratch.fill(0xaa);
    } else parser.push(input.subarray(next, end));
    next = end;
  }
  // Bytes not pushed yet (piecewise runs) belong to the upgraded protocol too.
  const upgradeRest = parser.upgraded ? Buffer.concat([parser.takeRemaining(), input.subarray(next)]).toString('latin1') : null;
  return { messages, heads, error: parser.error?.code ?? null, upgradeRest, idle: parser.idle };
}
