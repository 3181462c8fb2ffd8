/**
 * Every refusal of the engine, end to end on a loopback socket: the coded answer (status and
 * catalogue code in the JSON body) and the connection closed afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE } from '../../src/core/errors/index.js';
import { exchangeUntilClose, parseResponses, startEngine, type Running } from './engine-helpers.js';

const H = 'Host: a\r\n';
const CASES: [name: string, request: string, status: number, code: string][] = [
  ['Content-Length together with Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_LENGTH_AND_CHUNKED'],
  ['Transfer-Encoding before Content-Length', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_LENGTH_AND_CHUNKED'],
  ['differing Content-Length values', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello`, 400, 'MERIDIAN_ERR_HTTP_DUPLICATE_CONTENT_LENGTH'],
  ['the same Content-Length twice', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, 400, 'MERIDIAN_ERR_HTTP_DUPLICATE_CONTENT_LENGTH'],
  ['a Content-Length list', `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`, 400, 'MERIDIAN_ERR_HTTP_BAD_CONTENT_LENGTH'],
  ['a signed Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, 400, 'MERIDIAN_ERR_HTTP_BAD_CONTENT_LENGTH'],
  ['a hex Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`, 400, 'MERIDIAN_ERR_HTTP_BAD_CONTENT_LENGTH'],
  ['an empty Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: \r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_CONTENT_LENGTH'],
  ['a Content-Length beyond 2^53', `POST / HTTP/1.1\r\n${H}Content-Length: 9007199254740993\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_CONTENT_LENGTH'],
  ['Transfer-Encoding without chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_TRANSFER_ENCODING'],
  ['chunked not last', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_TRANSFER_ENCODING'],
  ['chunked twice', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_TRANSFER_ENCODING'],
  ['a transfer coding with parameters', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_TRANSFER_ENCODING'],
  ['an empty Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_TRANSFER_ENCODING'],
  ['obs-fold', `GET / HTTP/1.1\r\n${H}X-A: one\r\n two\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_OBS_FOLD'],
  ['a bare LF ending a header line', `GET / HTTP/1.1\r\n${H}X-A: one\nX-B: two\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_LINE_ENDING'],
  ['a bare CR in a value', `GET / HTTP/1.1\r\n${H}X-A: on\re\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_LINE_ENDING'],
  ['a bare LF ending the request line', `GET / HTTP/1.1\n${H}\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_LINE_ENDING'],
  ['NUL in a value', `GET / HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_HEADER_VALUE'],
  ['another control byte in a value', `GET / HTTP/1.1\r\n${H}X-A: a\u0001b\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_HEADER_VALUE'],
  ['DEL in a value', `GET / HTTP/1.1\r\n${H}X-A: a\u007fb\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_HEADER_VALUE'],
  ['an invalid token character in a name', `GET / HTTP/1.1\r\n${H}X(A): b\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_HEADER_NAME'],
  ['an empty header name', `GET / HTTP/1.1\r\n${H}: b\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_HEADER_NAME'],
  ['whitespace before the colon', `GET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_SPACE_BEFORE_COLON'],
  ['an invalid token character in the method', `G@T / HTTP/1.1\r\n${H}\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_METHOD'],
  ['an unknown method', `FETCH / HTTP/1.1\r\n${H}\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_METHOD'],
  ['a space in the target', `GET /a b HTTP/1.1\r\n${H}\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_VERSION'],
  ['a control byte in the target', `GET /a\u0001b HTTP/1.1\r\n${H}\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_URL'],
  ['a non-ASCII byte in the target', `GET /\u00e9 HTTP/1.1\r\n${H}\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_URL'],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n', 400, 'MERIDIAN_ERR_HTTP_MISSING_HOST'],
  ['two Hosts', `GET / HTTP/1.1\r\n${H}host: b\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_DUPLICATE_HOST'],
  ['a chunk size that overflows', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n`, 400, 'MERIDIAN_ERR_HTTP_CHUNK_TOO_LARGE'],
  ['a non-hex chunk size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_CHUNK'],
  ['a negative chunk size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_CHUNK'],
  ['chunk data longer than its size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_CHUNK'],
  ['a malformed chunk extension', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2;=x\r\nab\r\n0\r\n\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_CHUNK'],
  ['HTTP/1.2', `GET / HTTP/1.2\r\n${H}\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_VERSION'],
  ['HTTP/2.0', `GET / HTTP/2.0\r\n${H}\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_VERSION'],
  ['a lowercase version', `GET / http/1.1\r\n${H}\r\n`, 400, 'MERIDIAN_ERR_HTTP_BAD_VERSION'],
  ['no version (HTTP/0.9)', 'GET /\r\n\r\n', 400, 'MERIDIAN_ERR_HTTP_BAD_VERSION'],
  ['a head over maxHeaderBytes', `GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(3000)}\r\n\r\n`, 431, 'MERIDIAN_ERR_HTTP_HEADERS_TOO_LARGE'],
  ['more headers than maxHeaders', `GET / HTTP/1.1\r\n${H}${'X-A: b\r\n'.repeat(20)}\r\n`, 431, 'MERIDIAN_ERR_HTTP_TOO_MANY_HEADERS'],
  ['a target over maxUrlLength', `GET /${'a'.repeat(1100)} HTTP/1.1\r\n${H}\r\n`, 414, 'MERIDIAN_ERR_HTTP_URL_TOO_LONG'],
  ['a target over maxUrlLength, line not ended yet', `GET /${'a'.repeat(1200)}`, 414, 'MERIDIAN_ERR_HTTP_URL_TOO_LONG'],
  ['CONNECT without an upgrade handler', `CONNECT a:443 HTTP/1.1\r\n${H}\r\n`, 501, 'MERIDIAN_ERR_HTTP_CONNECT_UNSUPPORTED'],
];

describe('refusals', () => {
  let run: Running;
  let served = 0;
  beforeAll(async () => {
    run = await startEngine({
      onRequest(req, res) {
        served++;
        // Answer once the body is in: a body refused midway is then answered by the engine.
        req.body.on('error', () => { /* the engine answers */ }).on('end', () => res.end('ok')).resume();
      },
      limits: { maxHeaderBytes: 2048, maxHeaders: 10, maxUrlLength: 1024 },
    });
  });
  afterAll(() => run.close());

  for (const [name, request, status, code] of CASES) {
    it(`${name}: ${status} ${code}, connection closed`, async () => {
      expect(CATALOGUE[code]?.status).toBe(status);
      const before = served;
      const text = await exchangeUntilClose(run.port, request);
      const [res, ...more] = parseResponses(text);
      expect(res?.status).toBe(status);
      expect(res?.headers.connection).toBe('close');
      expect(JSON.parse(res?.body ?? '{}')).toMatchObject({ code });
      expect(more).toEqual([]);
      // A refused head never reaches the handler (a body refused midway does).
      if (!name.includes('chunk')) expect(served).toBe(before);
    });
  }

  it('a refusal after a good pipelined request: the first is answered, then the coded 400, then close', async () => {
    const text = await exchangeUntilClose(run.port, `GET /ok HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n`);
    const responses = parseResponses(text);
    expect(responses.map((r) => r.status)).toEqual([200, 400]);
    expect(JSON.parse(responses[1]?.body ?? '{}')).toMatchObject({ code: 'MERIDIAN_ERR_HTTP_SPACE_BEFORE_COLON' });
  });
});
