/**
 * Differential fuzz against node:http. Valid requests (pipelined, Content-Length and chunked
 * bodies, trailers, duplicate headers) are mutated (case, odd whitespace, control bytes, line
 * endings, duplicated or dropped bytes and headers) and each input is sent, on its own loopback
 * connection, to a node:http server and to the engine. When both accept it (neither refuses), both
 * must frame it the same way: the same requests, with the same methods, targets and bodies.
 *
 * Seeded and bounded: the seed is printed; HTTP_FUZZ_SEED=<seed> replays a run,
 * HTTP_FUZZ_CASES=<n> changes the number of cases (default 3000).
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpEngine, type HttpEngine } from '../../src/http/index.js';
import { prng } from '../harness/prng.js';

const SEED = Number(process.env.HTTP_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CASES = Number(process.env.HTTP_FUZZ_CASES ?? 3000);
const CONCURRENCY = 32;
const CASE_TIMEOUT_MS = 2_000;

interface Framed { method: string; url: string; body: string }
interface EngineFramed extends Framed { closes: boolean }
interface Seen { requests: EngineFramed[]; refused: boolean }

class Fuzzer {
  constructor(private readonly rnd: () => number) {}
  int(n: number): number { return Math.floor(this.rnd() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)] as T; }
  chance(p: number): boolean { return this.rnd() < p; }

  word(min: number, max: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_.~'): string {
    let s = '';
    const n = min + this.int(max - min + 1);
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }

  request(): string {
    const method = this.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'GET', 'POST']);
    const url = `/${this.word(0, 12, 'abcdefghijklmnopqrstuvwxyz0123456789-_.~/%!$&\'()*+,;=:@')}${this.chance(0.3) ? `?${this.word(1, 10, 'abc=&xyz123%')}` : ''}`;
    const version = this.chance(0.9) ? '1.1' : '1.0';
    const headers: [string, string][] = [['Host', `${this.word(1, 8)}.example`]];
    for (let i = this.int(4); i > 0; i--) headers.push([`X-${this.word(1, 6)}`, this.word(0, 20, 'abc xyz,;=/"0123')]);
    const withBody = method !== 'GET' && method !== 'OPTIONS' && this.chance(0.7);
    let framed = '';
    if (withBody) {
      const body = this.word(0, 40, 'abcdefghij\r\n0123456789 ');
      if (this.chance(0.5)) {
        headers.push(['Content-Length', String(body.length)]);
        framed = body;
      } else {
        headers.push(['Transfer-Encoding', this.chance(0.9) ? 'chunked' : 'gzip, chunked']);
        let rest = body;
        while (rest.length > 0) {
          const n = 1 + this.int(rest.length);
          framed += `${n.toString(16)}${this.chance(0.2) ? `;${this.word(1, 4)}=${this.word(1, 4)}` : ''}\r\n${rest.slice(0, n)}\r\n`;
          rest = rest.slice(n);
        }
        framed += `0\r\n${this.chance(0.2) ? `X-Trailer: ${this.word(1, 5)}\r\n` : ''}\r\n`;
      }
    }
    if (version === '1.0' && this.chance(0.5)) headers.push(['Connection', 'keep-alive']);
    if (this.chance(0.05)) headers.push(['Connection', 'close']);
    // shuffle the headers a little
    for (let i = headers.length - 1; i > 0; i--) {
      if (this.chance(0.3)) {
        const j = this.int(i + 1);
        [headers[i], headers[j]] = [headers[j] as [string, string], headers[i] as [string, string]];
      }
    }
    return `${method} ${url} HTTP/${version}\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n${framed}`;
  }

  /** One valid input (1-3 pipelined requests), then 0-3 mutations. */
  input(): string {
    let s = '';
    for (let i = 1 + this.int(3); i > 0; i--) s += this.request();
    for (let m = this.int(4); m > 0; m--) s = this.mutate(s);
    return s;
  }

  mutate(s: string): string {
    const at = this.int(s.length + 1);
    switch (this.int(14)) {
      case 0: return s.slice(0, at) + String.fromCharCode(this.pick([0, 1, 8, 9, 11, 12, 13, 10, 27, 127, 0x80, 0xff])) + s.slice(at);
      case 1: return s.slice(0, at) + s.slice(at + 1); // drop a byte
      case 2: return s.slice(0, at) + (s[at] ?? '') + s.slice(at); // duplicate a byte
      case 3: { // case change of a header name
        const i = s.indexOf(':', at);
        if (i < 0) return s;
        const start = s.lastIndexOf('\n', i) + 1;
        const name = s.slice(start, i);
        return s.slice(0, start) + (this.chance(0.5) ? name.toUpperCase() : name.toLowerCase()) + s.slice(i);
      }
      case 4: { // odd whitespace around a colon
        const i = s.indexOf(':', at);
        return i < 0 ? s : s.slice(0, i) + this.pick([' :', ':  ', ':\t', '\t:', ':']) + s.slice(i + 1);
      }
      case 5: { // CRLF -> LF, or CR alone
        const i = s.indexOf('\r\n', at);
        return i < 0 ? s : s.slice(0, i) + this.pick(['\n', '\r', '\r\r\n', '\n\r']) + s.slice(i + 2);
      }
      case 6: { // duplicate a header line
        const i = s.indexOf('\r\n', at);
        const j = i < 0 ? -1 : s.indexOf('\r\n', i + 2);
        return j < 0 ? s : s.slice(0, j + 2) + s.slice(i + 2, j + 2) + s.slice(j + 2);
      }
      case 7: { // extra spaces in the request line
        const i = s.indexOf(' ', at);
        return i < 0 ? s : s.slice(0, i) + this.pick(['  ', '\t', ' ']) + s.slice(i + 1);
      }
      case 8: { // obs-fold
        const i = s.indexOf('\r\n', at);
        return i < 0 ? s : `${s.slice(0, i)}\r\n ${this.word(1, 4)}${s.slice(i)}`;
      }
      case 9: { // framing headers added
        const i = s.indexOf('\r\n', at);
        const extra = this.pick(['Content-Length: 3', 'Content-Length: 0', 'Transfer-Encoding: chunked', 'Transfer-Encoding: identity', 'Content-Length: 1, 1', 'Host: other']);
        return i < 0 ? s : `${s.slice(0, i)}\r\n${extra}${s.slice(i)}`;
      }
      case 10: return s.slice(0, at) + '\r\n' + s.slice(at); // stray empty line
      case 11: return s.slice(0, at); // truncated
      case 12: { // chunk size changed
        const i = s.search(/\r\n[0-9a-f]+\r\n/);
        return i < 0 ? s : s.slice(0, i + 2) + this.pick(['ff', '0', 'g', ' 1', '1 ', '00000000000000001']) + s.slice(s.indexOf('\r\n', i + 2));
      }
      default: return s.slice(0, at) + this.pick(['\t', ' ', '"', '\\', '#', '\u0085']) + s.slice(at);
    }
  }
}

const framing = (list: EngineFramed[]): string => JSON.stringify(list.map(({ method, url, body }) => ({ method, url, body })));

/**
 * The same requests. One deliberate difference: on HTTP/1.0 with both `Connection: keep-alive`
 * and `Connection: close`, close wins in the engine (RFC 9112 9.3) while llhttp keeps the
 * connection; the engine then reads no further, so its list is a prefix of node's ending there.
 */
function sameFraming(node: EngineFramed[], engine: EngineFramed[]): boolean {
  if (framing(node) === framing(engine)) return true;
  const last = engine[engine.length - 1];
  return engine.length < node.length && last !== undefined && last.closes && framing(node.slice(0, engine.length)) === framing(engine);
}

/** Where each server records what it saw, by the client's port. */
const seenBy = { node: new Map<number, Seen>(), engine: new Map<number, Seen>() };

function record(map: Map<number, Seen>, socket: Socket): Seen {
  const port = socket.remotePort as number;
  let seen = map.get(port);
  if (!seen) { seen = { requests: [], refused: false }; map.set(port, seen); }
  return seen;
}

let timedOut = 0;
let nodeServer: HttpServer;
let engineServer: Server;
let engine: HttpEngine;
let nodePort = 0;
let enginePort = 0;

async function listen(server: Server | HttpServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** Sends the input, half-closes, and waits for the server to close (or gives up after CASE_TIMEOUT_MS). */
async function send(port: number, input: Buffer): Promise<number> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => { /* a reset is an answer too */ });
  socket.resume();
  await once(socket, 'connect');
  const local = socket.localPort as number;
  const closed = once(socket, 'close');
  socket.end(input);
  const timer = setTimeout(() => { timedOut++; socket.destroy(); }, CASE_TIMEOUT_MS);
  await closed;
  clearTimeout(timer);
  return local;
}

describe('differential fuzz against node:http', () => {
  beforeAll(async () => {
    nodeServer = createHttpServer((req, res) => {
      const seen = record(seenBy.node, req.socket);
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        seen.requests.push({ method: req.method as string, url: req.url as string, body: Buffer.concat(parts).toString('latin1'), closes: false });
        res.end();
      });
      req.on('error', () => { /* aborted */ });
    });
    nodeServer.on('clientError', (_err, socket) => {
      record(seenBy.node, socket as Socket).refused = true;
      socket.destroy();
    });
    nodeServer.on('connection', (socket: Socket) => { record(seenBy.node, socket); });
    engine = createHttpEngine({
      onRequest(req, res) {
        const seen = record(seenBy.engine, req.socket);
        const parts: Buffer[] = [];
        req.body.on('data', (c: Buffer) => parts.push(c));
        req.body.on('end', () => {
          seen.requests.push({ method: req.method, url: req.url, body: Buffer.concat(parts).toString('latin1'), closes: !req.keepAlive });
          res.end();
        });
        req.body.on('error', () => { /* aborted */ });
      },
      onClientError(_err, socket) { record(seenBy.engine, socket).refused = true; },
    });
    // As the gateway's listeners: connections read into the engine's shared buffer.
    engineServer = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    engineServer.on('connection', (socket: Socket) => { record(seenBy.engine, socket); });
    engine.attach(engineServer);
    nodePort = await listen(nodeServer);
    enginePort = await listen(engineServer);
  });

  afterAll(async () => {
    engine.close();
    await new Promise<void>((resolve) => engineServer.close(() => resolve()));
    nodeServer.closeAllConnections();
    await new Promise<void>((resolve) => nodeServer.close(() => resolve()));
  });

  it(`frames every input both accept the same way (seed ${SEED}, ${CASES} cases)`, async () => {
    console.log(`differential fuzz seed: ${SEED} (replay: HTTP_FUZZ_SEED=${SEED})`);
    const fuzz = new Fuzzer(prng(SEED));
    const inputs = Array.from({ length: CASES }, () => Buffer.from(fuzz.input(), 'latin1'));
    const stats = { bothAccepted: 0, bothRefused: 0, onlyNodeRefused: 0, onlyEngineRefused: 0, requests: 0 };
    const mismatches: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < inputs.length) {
        const index = next++;
        const input = inputs[index] as Buffer;
        const [np, ep] = await Promise.all([send(nodePort, input), send(enginePort, input)]);
        const n = seenBy.node.get(np) ?? { requests: [], refused: false };
        const e = seenBy.engine.get(ep) ?? { requests: [], refused: false };
        seenBy.node.delete(np);
        seenBy.engine.delete(ep);
        if (n.refused && e.refused) stats.bothRefused++;
        else if (n.refused) stats.onlyNodeRefused++;
        else if (e.refused) stats.onlyEngineRefused++;
        else {
          stats.bothAccepted++;
          stats.requests += e.requests.length;
          if (!sameFraming(n.requests, e.requests)) {
            mismatches.push(`case ${index}: ${JSON.stringify(input.toString('latin1'))}\n  node:   ${JSON.stringify(n.requests)}\n  engine: ${JSON.stringify(e.requests)}`);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    console.log(`differential fuzz: ${JSON.stringify({ ...stats, timedOut })}`);
    expect(mismatches.slice(0, 5).join('\n')).toBe('');
    // The run must compare something: most valid-then-mutated inputs are accepted by both.
    expect(stats.bothAccepted).toBeGreaterThan(CASES / 10);
  }, 60_000);
});
