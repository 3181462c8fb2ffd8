/**
 * llhttp's request corpus (nodejs/llhttp test/request/*.md, strict mode), carried over as data
 * in test/http/corpus/*.json (see the README there): every case llhttp accepts is parsed to the
 * same method, URL, version, headers and body; every case it refuses is refused. The cases
 * marked `difference` are the deliberate ones listed in the README.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAll, type ParsedMessage, type ParseOutcome } from './parse-helper.js';

interface CorpusCase {
  name: string;
  input: string;
  llhttp: { messages: ParsedMessage[]; error: boolean; upgrade?: { rest: string }; finish?: 'safe' | 'unsafe' };
  difference?: 'missing-host' | 'obs-fold' | 'http-0.9' | 'duplicate-host';
}
interface CorpusFile { source: string; skipped: { name: string; why: string }[]; cases: CorpusCase[] }

const REFUSED_AS: Record<string, string | undefined> = {
  'obs-fold': 'MERIDIAN_ERR_HTTP_OBS_FOLD',
  'http-0.9': 'MERIDIAN_ERR_HTTP_BAD_VERSION',
  'duplicate-host': 'MERIDIAN_ERR_HTTP_DUPLICATE_HOST',
};

const dir = join(import.meta.dirname, 'corpus');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

function expectLlhttpOutcome(c: CorpusCase, got: ParseOutcome): void {
  const want = c.llhttp;
  if (want.error) {
    expect(got.error, 'llhttp refuses this').not.toBeNull();
    // What completed before the error must match; a message cut by the error is not compared.
    expect(got.messages.filter((m) => m.complete)).toEqual(want.messages.filter((m) => m.complete));
    return;
  }
  expect(got.error).toBeNull();
  expect(got.messages).toEqual(want.messages);
  expect(got.upgradeRest).toBe(want.upgrade ? want.upgrade.rest : null);
  if (want.finish) expect(got.idle).toBe(want.finish === 'safe');
}

describe('llhttp request corpus', () => {
  it('has the corpus files', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
  });
  for (const file of files) {
    const corpus = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CorpusFile;
    describe(file, () => {
      for (const c of corpus.cases) {
        const input = Buffer.from(c.input, 'latin1');
        it(c.name, () => {
          // Reuse: pushed from a buffer overwritten after each push (the engine's shared read buffer).
          for (const [step, reuse] of [[Infinity, false], [1, false], [7, false], [Infinity, true], [1, true], [7, true]] as const) {
            const refusedAs = c.difference ? REFUSED_AS[c.difference] : undefined;
            if (refusedAs) {
              // llhttp accepts these; we refuse them (README: deliberate differences).
              expect(c.llhttp.error).toBe(false);
              expect(parseAll(input, { requireHost: false }, step, reuse).error).toBe(refusedAs);
              continue;
            }
            // Host not required: llhttp's rules exactly.
            expectLlhttpOutcome(c, parseAll(input, { requireHost: false }, step, reuse));
            const strict = parseAll(input, {}, step, reuse);
            if (c.difference === 'missing-host') {
              expect(c.llhttp.error).toBe(false);
              expect(strict.error).toBe('MERIDIAN_ERR_HTTP_MISSING_HOST');
            } else {
              expectLlhttpOutcome(c, strict);
            }
          }
        });
      }
    });
  }
});
