import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, Socket, type AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../harness/index.js';
import { gatewayErrorOf, Http1Error, Http1Pool, http1PoolOptions, requestStream, type Http1Exchange, type Http1Handler, type Http1PoolOptions, type Http1Request } from '../../../src/upstream/http1/index.js';
import { nginxConf } from '../../../bench/lib/nginx.js';

export interface Running {
  readonly port: number;
  /** Connections the server accepted. */
  readonly connections: () => number;
  close(): Promise<void>;
}

function track(server: Server | ReturnType<typeof createNetServer>): Promise<Running> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  server.on('connection', (s: Socket) => {
    accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        connections: () => accepted,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** A real node:http upstream. */
export function httpUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void, keepAliveTimeout = 5_000): Promise<Running> {
  const server = createHttpServer({ keepAliveTimeout }, handler);
  return track(server);
}

/** A raw TCP upstream for what node:http will not send (hostile or odd responses). */
export function rawUpstream(onSocket: (socket: Socket, connectionIndex: number) => void): Promise<Running> {
  let n = 0;
  const server = createNetServer((s) => {
    s.on('error', () => undefined);
    onSocket(s, n++);
  });
  return track(server);
}

/** Calls `fn` with each complete request head (up to the blank line) that arrives on `socket`. */
export function onRequestHeads(socket: Socket, fn: (head: string, index: number) => void): void {
  let buf = '';
  let n = 0;
  socket.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    for (let at = buf.indexOf('\r\n\r\n'); at >= 0; at = buf.indexOf('\r\n\r\n')) {
      const head = buf.slice(0, at);
      buf = buf.slice(at + 4);
      fn(head, n++);
    }
  });
}

export interface Collected {
  status: number;
  headers: string[];
  body: Buffer;
  trailers: string[] | null;
}

/** A handler that gathers the whole response; `slow` pauses after every chunk and resumes on the next macrotask. */
export class Collector implements Http1Handler {
  status = 0;
  headers: string[] = [];
  chunks: Buffer[] = [];
  bytes = 0;
  call: Http1Exchange | undefined;
  readonly done: Promise<Collected>;
  private resolve!: (c: Collected) => void;
  private reject!: (e: Error) => void;

  constructor(
    private readonly slow = false,
    private readonly onChunk: (c: Collector) => void = () => undefined,
  ) {
    this.done = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }

  onResponse(status: number, headers: string[], call: Http1Exchange): void {
    this.status = status;
    this.headers = headers;
    this.call = call;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(Buffer.from(chunk));
    this.bytes += chunk.length;
    this.onChunk(this);
    if (!this.slow) return true;
    setImmediate(() => this.call?.resume());
    return false;
  }

  onEnd(trailers: string[] | null): void {
    this.resolve({ status: this.status, headers: this.headers, body: Buffer.concat(this.chunks), trailers });
  }

  onError(err: Error): void {
    this.reject(err);
  }
}

export function fetch1(pool: Http1Pool, req: Partial<Http1Request> & { path: string }, handler = new Collector()): Promise<Collected> {
  pool.request({ method: 'GET', headers: [], body: null, ...req }, handler);
  return handler.done;
}

/** The error a request ends with (fails the test if it succeeds). */
export async function failure(p: Promise<unknown>): Promise<Error & { code?: string; retryable?: boolean; phase?: string; reusedSocket?: boolean; requestWritten?: boolean }> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the request to fail');
}

afterEach(() => {
  vi.useRealTimers();
});

const servers: Running[] = [];
const pools: Http1Pool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) p.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function up(p: Promise<Running>): Promise<Running> {
  const s = await p;
  servers.push(s);
  return s;
}

function poolTo(s: Running, options: Partial<Http1PoolOptions> = {}): Http1Pool {
  const pool = new Http1Pool({ host: '127.0.0.1', port: s.port, ...options });
  pools.push(pool);
  return pool;
}

function header(headers: string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if ((headers[i] as string).toLowerCase() === name) return headers[i + 1];
  return undefined;
}

/** 20 MB in 64 KiB pieces of a seeded pattern, and its hash. */
const BIG = 20 * 1024 * 1024;
const PIECE = Buffer.alloc(64 * 1024);
for (let i = 0; i < PIECE.length; i++) PIECE[i] = (i * 31 + 7) & 0xff;
const BIG_SHA = (() => {
  const h = createHash('sha256');
  for (let n = 0; n < BIG; n += PIECE.length) h.update(PIECE);
  return h.digest('hex');
})();

describe('Http1Pool keep-alive', () => {
  it('serves N sequential requests on one socket', async () => {
    const s = await up(httpUpstream((req, res) => res.end(`hello ${req.url}`)));
    const pool = poolTo(s);
    for (let i = 0; i < 20; i++) {
      const r = await fetch1(pool, { path: `/r${i}` });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(`hello /r${i}`);
    }
    expect(s.connections()).toBe(1);
    expect(pool.stats()).toMatchObject({ opened: 1, connections: 1, idle: 1 });
  });

  it('opens at most `connections` sockets and queues the rest', async () => {
    const s = await up(httpUpstream((req, res) => setTimeout(() => res.end(req.url), 5)));
    const pool = poolTo(s, { connections: 2 });
    const all = await Promise.all(Array.from({ length: 12 }, (_, i) => fetch1(pool, { path: `/${i}` })));
    expect(all.map((r) => r.body.toString())).toEqual(Array.from({ length: 12 }, (_, i) => `/${i}`));
    expect(s.connections()).toBe(2);
    expect(pool.stats().queued).toBe(0);
  });

  it('does not reuse a socket after an aborted (incomplete) response', async () => {
    const s = await up(httpUpstream((req, res) => {
      if (req.url === '/big') {
        res.write(Buffer.alloc(100_000));
        return; // never ends
      }
      res.end('ok');
    }));
    const pool = poolTo(s);
    await fetch1(pool, { path: '/a' });
    const aborted = new Collector(false, (c) => c.call?.abort(new Error('client gone')));
    const err = await failure(fetch1(pool, { path: '/big' }, aborted));
    expect(err.message).toBe('client gone');
    expect((await fetch1(pool, { path: '/b' })).body.toString()).toBe('ok');
    expect(s.connections()).toBe(2);
  });

  it('does not reuse a socket when the response ends before the request body was sent', async () => {
    const s = await up(httpUpstream((req, res) => res.end(req.method === 'POST' ? 'early' : 'ok')));
    const pool = poolTo(s);
    const body = new PassThrough();
    body.write('part of a body that never ends');
    const r = await fetch1(pool, { method: 'POST', path: '/up', body });
    expect(r.body.toString()).toBe('early');
    expect(pool.stats().connections).toBe(0);
    expect((await fetch1(pool, { path: '/b' })).body.toString()).toBe('ok');
    expect(s.connections()).toBe(2);
  });

  it('does not reuse a socket after `connection: close`', async () => {
    const s = await up(httpUpstream((_req, res) => {
      res.setHeader('connection', 'close');
      res.end('bye');
    }));
    const pool = poolTo(s);
    await fetch1(pool, { path: '/1' });
    await fetch1(pool, { path: '/2' });
    expect(pool.stats().opened).toBe(2);
  });

  it('drops an idle socket the upstream closes, and the next request gets a new one without error', async () => {
    const s = await up(rawUpstream((sock) => {
      onRequestHeads(sock, () => {
        sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        setImmediate(() => sock.end());
      });
    }));
    const pool = poolTo(s);
    await fetch1(pool, { path: '/1' });
    await vi.waitFor(() => expect(pool.stats().connections).toBe(0));
    expect((await fetch1(pool, { path: '/2' })).body.toString()).toBe('ok');
    expect(s.connections()).toBe(2);
  });

  it('does not keep an idle socket past the upstream keep-alive timeout minus the margin', async () => {
    // node:http announces `Keep-Alive: timeout=2`; a margin of 2 s leaves nothing to reuse.
    const s = await up(httpUpstream((_req, res) => res.end('ok'), 2_000));
    const none = poolTo(s, { keepAliveMargin: 2_000 });
    await fetch1(none, { path: '/1' });
    expect(none.stats()).toMatchObject({ idle: 0, connections: 0 });
    // A margin of 1.9 s leaves 100 ms: the socket is pooled, then dropped without a request to find it.
    const short = poolTo(s, { keepAliveMargin: 1_900 });
    await fetch1(short, { path: '/1' });
    expect(short.stats().idle).toBe(1);
    await vi.waitFor(() => expect(short.stats().connections).toBe(0), { timeout: 5_000 });
    await fetch1(short, { path: '/2' });
    expect(short.stats().opened).toBe(2);
  });
  it('closes gracefully: running requests finish, new ones fail, idle sockets go', async () => {
    const s = await up(httpUpstream((req, res) => setTimeout(() => res.end(req.url), req.url === '/slow' ? 50 : 0)));
    const pool = poolTo(s);
    await fetch1(pool, { path: '/warm' });
    const slow = fetch1(pool, { path: '/slow' });
    const closed = pool.close();
    expect(await failure(fetch1(pool, { path: '/late' }))).toMatchObject({ code: 'MERIDIAN_ERR_UPSTREAM_POOL_CLOSED' });
    expect((await slow).body.toString()).toBe('/slow');
    await closed;
    expect(pool.stats().connections).toBe(0);
  });

  it('destroy fails queued and running requests with the reason', async () => {
    const s = await up(httpUpstream(() => undefined));
    const pool = poolTo(s, { connections: 1 });
    const running = failure(fetch1(pool, { path: '/1' }));
    const queued = failure(fetch1(pool, { path: '/2' }));
    await vi.waitFor(() => expect(pool.stats().queued).toBe(1));
    const reason = new Error('shutting down');
    pool.destroy(reason);
    expect(await running).toBe(reason);
    expect(await queued).toBe(reason);
    expect(pool.stats().connections).toBe(0);
  });
});

describe('Http1Pool response framing', () => {
  it('reads chunked bodies with trailers', async () => {
    const s = await up(httpUpstream((_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked', trailer: 'x-sum' });
      res.write('hello ');
      res.write('chunked ');
      res.addTrailers({ 'x-sum': '42' });
      res.end('world');
    }));
    const pool = poolTo(s);
    const r = await fetch1(pool, { path: '/' });
    expect(r.body.toString()).toBe('hello chunked world');
    expect(r.trailers).toEqual(['x-sum', '42']);
    await fetch1(pool, { path: '/' });
    expect(pool.stats().opened).toBe(1);
  });

  it('reads a close-delimited body to the end and does not reuse the socket', async () => {
    const s = await up(rawUpstream((sock) => {
      onRequestHeads(sock, () => {
        sock.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil ');
        setTimeout(() => sock.end('the close'), 10);
      });
    }));
    const pool = poolTo(s);
    const r = await fetch1(pool, { path: '/' });
    expect(r.body.toString()).toBe('until the close');
    expect(pool.stats().connections).toBe(0);
  });

  it('expects no body for HEAD, 204 and 304, and keeps the socket', async () => {
    const s = await up(httpUpstream((req, res) => {
      if (req.url === '/204') res.writeHead(204).end();
      else if (req.url === '/304') res.writeHead(304, { etag: '"a"' }).end();
      else res.writeHead(200, { 'content-length': '12' }).end(req.method === 'HEAD' ? undefined : 'twelve bytes');
    }));
    const pool = poolTo(s);
    const head = await fetch1(pool, { method: 'HEAD', path: '/' });
    expect(header(head.headers, 'content-length')).toBe('12');
    expect(head.body.length).toBe(0);
    expect((await fetch1(pool, { path: '/204' })).status).toBe(204);
    expect((await fetch1(pool, { path: '/304' })).status).toBe(304);
    expect((await fetch1(pool, { path: '/' })).body.toString()).toBe('twelve bytes');
    expect(pool.stats().opened).toBe(1);
  });

  it('skips 100 and 103 informational responses', async () => {
    const s = await up(httpUpstream((_req, res) => {
      res.writeContinue();
      res.writeEarlyHints({ link: '</a.css>; rel=preload' });
      res.end('final');
    }));
    const pool = poolTo(s);
    const r = await fetch1(pool, { path: '/' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('final');
    expect(header(r.headers, 'link')).toBeUndefined();
  });

  it('parses a response split at every byte', async () => {
    const wire = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: b\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nx-t: 1\r\n\r\n';
    const s = await up(rawUpstream((sock) => {
      onRequestHeads(sock, async () => {
        for (const ch of wire) {
          sock.write(ch);
          await new Promise((r) => setImmediate(r));
        }
      });
    }));
    const pool = poolTo(s);
    const r = await fetch1(pool, { path: '/' });
    expect(r.body.toString()).toBe('hello!');
    expect(r.headers).toEqual(['transfer-encoding', 'chunked', 'x-a', 'b']);
    expect(r.trailers).toEqual(['x-t', '1']);
  });
});

describe('Http1Pool streaming with bounded memory', () => {
  it('streams a 20 MB chunked response to a slow consumer, holding little of it', async () => {
    const s = await up(httpUpstream(async (req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      const size = req.url === '/big' ? BIG : PIECE.length;
      for (let n = 0; n < size; n += PIECE.length) if (!res.write(PIECE)) await once(res, 'drain');
      res.end();
    }));
    const pool = poolTo(s);
    let maxHeld = 0;
    const hash = createHash('sha256');
    const slow = new Collector(true, (c) => {
      hash.update(c.chunks.pop() as Buffer);
      maxHeld = Math.max(maxHeld, pool.stats().bufferedBytes);
    });
    const r = await fetch1(pool, { path: '/big' }, slow);
    expect(slow.bytes).toBe(BIG);
    expect(r.body.length).toBe(0);
    expect(hash.digest('hex')).toBe(BIG_SHA);
    // One socket read (64 KiB) and the socket's buffer at most; never megabytes.
    expect(maxHeld).toBeLessThan(256 * 1024);
    // The socket, paused for the slow consumer, serves the next request.
    expect(pool.stats().idle).toBe(1);
    await fetch1(pool, { path: '/next' }, new Collector(true));
    expect(pool.stats().opened).toBe(1);
  });

  it('hands on body chunks that stay intact after later reads (the socket read buffer is reused)', async () => {
    // Every byte differs from the one 64 KiB further: a chunk left pointing into a reused read
    // buffer would show the bytes of a later read.
    const body = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >>> 16) * 13) & 0xff;
    const s = await up(httpUpstream((_req, res) => {
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    }));
    const pool = poolTo(s);
    const kept: Buffer[] = [];
    const keeper = new Collector();
    keeper.onData = (chunk: Buffer): boolean => {
      kept.push(chunk); // as given, not copied
      return true;
    };
    await fetch1(pool, { path: '/' }, keeper);
    expect(kept.length).toBeGreaterThan(1);
    expect(Buffer.concat(kept).equals(body)).toBe(true);
  });

  it('streams a 20 MB response into a Readable read slowly (requestStream)', async () => {
    const s = await up(httpUpstream(async (_req, res) => {
      res.writeHead(200, { 'content-length': String(BIG) });
      for (let n = 0; n < BIG; n += PIECE.length) if (!res.write(PIECE)) await once(res, 'drain');
      res.end();
    }));
    const pool = poolTo(s);
    const body = await new Promise<Readable>((resolve, reject) => requestStream(pool, { method: 'GET', path: '/', headers: [], body: null }, { onResponse: (_s, _h, b) => resolve(b), onError: reject }));
    const hash = createHash('sha256');
    let got = 0;
    let maxHeld = 0;
    for await (const chunk of body) {
      hash.update(chunk as Buffer);
      got += (chunk as Buffer).length;
      maxHeld = Math.max(maxHeld, pool.stats().bufferedBytes + body.readableLength);
      if (got % (1024 * 1024) < 65536) await new Promise((r) => setTimeout(r, 1));
    }
    expect(got).toBe(BIG);
    expect(hash.digest('hex')).toBe(BIG_SHA);
    expect(maxHeld).toBeLessThan(512 * 1024);
  });

  it('streams a 20 MB chunked request body with backpressure', async () => {
    let received = 0;
    let maxHeld = 0;
    const client: { pool?: Http1Pool } = {};
    const s = await up(httpUpstream((req, res) => {
      const hash = createHash('sha256');
      req.on('data', (c: Buffer) => {
        hash.update(c);
        received += c.length;
        maxHeld = Math.max(maxHeld, client.pool?.stats().bufferedBytes ?? 0);
      });
      req.on('end', () => res.end(`${req.headers['transfer-encoding']} ${hash.digest('hex')}`));
    }));
    const pool = poolTo(s);
    client.pool = pool;
    let produced = 0;
    let maxAhead = 0;
    const body = new Readable({
      highWaterMark: 64 * 1024,
      read() {
        maxAhead = Math.max(maxAhead, produced - received);
        if (produced >= BIG) this.push(null);
        else {
          produced += PIECE.length;
          this.push(PIECE);
        }
      },
    });
    const r = await fetch1(pool, { method: 'POST', path: '/upload', body });
    expect(r.body.toString()).toBe(`chunked ${BIG_SHA}`);
    // What the client holds unsent stays around one socket's high-water mark; the producer runs
    // ahead of the upstream by no more than the kernel's socket buffers.
    expect(maxHeld).toBeGreaterThan(0);
    expect(maxHeld).toBeLessThan(256 * 1024);
    expect(maxAhead).toBeLessThan(8 * 1024 * 1024);
    expect(pool.stats().idle).toBe(1);
  });

  it('sends a Content-Length stream body as is, and a small Buffer body with the head', async () => {
    const s = await up(httpUpstream((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`${req.headers['content-length']} ${req.headers['transfer-encoding'] ?? '-'} ${n}`));
    }));
    const pool = poolTo(s);
    expect((await fetch1(pool, { method: 'PUT', path: '/', headers: ['content-length', '11'], body: Readable.from([Buffer.from('hello '), Buffer.from('world')]) })).body.toString()).toBe('11 - 11');
    expect((await fetch1(pool, { method: 'POST', path: '/', body: Buffer.from('small') })).body.toString()).toBe('5 - 5');
    expect(pool.stats().opened).toBe(1);
  });
});

describe('Http1Pool errors', () => {
  it('gives an error when the upstream closes mid-body, and does not reuse the socket', async () => {
    const s = await up(rawUpstream((sock, i) => {
      onRequestHeads(sock, () => {
        if (i === 0) {
          sock.write(`HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n${'x'.repeat(100)}`);
          setTimeout(() => sock.destroy(), 10);
        } else sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      });
    }));
    const pool = poolTo(s);
    const c = new Collector();
    const err = await failure(fetch1(pool, { path: '/' }, c));
    expect(c.status).toBe(200);
    expect(c.bytes).toBe(100);
    expect(err).toBeInstanceOf(Http1Error);
    expect(err.code).toBe('MERIDIAN_ERR_UPSTREAM_CONNECTION_CLOSED');
    expect(err.retryable).toBe(false);
    expect(pool.stats().connections).toBe(0);
    expect((await fetch1(pool, { path: '/' })).body.toString()).toBe('ok');
    expect(s.connections()).toBe(2);
  });

  it('classifies the keep-alive race (reused socket closed before any response byte) as retryable for idempotent requests', async () => {
    // The upstream answers the first request of each connection, and closes on the second.
    const s = await up(rawUpstream((sock) => {
      onRequestHeads(sock, (_head, i) => {
        if (i === 0) sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        else sock.destroy();
      });
    }));
    const pool = poolTo(s, { retryStaleSocket: false });
    await fetch1(pool, { path: '/' });
    const get = await failure(fetch1(pool, { path: '/' }));
    expect(get).toMatchObject({ code: 'MERIDIAN_ERR_UPSTREAM_CONNECTION_CLOSED', retryable: true, reusedSocket: true, requestWritten: true });
    expect(gatewayErrorOf(get as Http1Error, 'u1')).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR' });
    await fetch1(pool, { path: '/' });
    const post = await failure(fetch1(pool, { method: 'POST', path: '/', body: Buffer.from('x') }));
    expect(post).toMatchObject({ code: 'MERIDIAN_ERR_UPSTREAM_CONNECTION_CLOSED', retryable: false, reusedSocket: true });
  });

  it('classifies a refused connection as retryable for any method (nothing was written)', async () => {
    const pool = new Http1Pool({ host: '127.0.0.1', port: await freePort() });
    pools.push(pool);
    const err = await failure(fetch1(pool, { method: 'POST', path: '/', body: Buffer.from('x') }));
    expect(err).toMatchObject({ code: 'MERIDIAN_ERR_UPSTREAM_CONNECT_FAILED', retryable: true, requestWritten: false, phase: 'connect' });
    expect(gatewayErrorOf(err as Http1Error, 'u1').code).toBe('MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR');
  });

  it('retries the keep-alive race once on a new socket by default', async () => {
    const s = await up(rawUpstream((sock) => {
      onRequestHeads(sock, (_head, i) => {
        if (i === 0) sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        else sock.end();
      });
    }));
    const pool = poolTo(s);
    await fetch1(pool, { path: '/' });
    expect((await fetch1(pool, { path: '/' })).body.toString()).toBe('ok');
    expect(s.connections()).toBe(2);
  });

  it('times out connecting', async () => {
    // A socket that never connects (no loopback address will hang a connect reliably).
    const pool = new Http1Pool({ host: '127.0.0.1', port: 9, timeouts: { connect: 100 }, connect: () => new Socket() });
    pools.push(pool);
    const err = await failure(fetch1(pool, { path: '/' }));
    expect(err).toMatchObject({ code: 'MERIDIAN_ERR_UPSTREAM_CONNECT_TIMEOUT', phase: 'connect', retryable: true });
    expect(gatewayErrorOf(err as Http1Error, 'u1')).toEqual({ code: 'MERIDIAN_ERR_GATEWAY_UPSTREAM_TIMEOUT', params: { upstream: 'u1', phase: 'connect' } });
    expect(pool.stats().connections).toBe(0);
  });

  it('times out waiting for the head, and between body reads', async () => {
    const s = await up(rawUpstream((sock) => {
      onRequestHeads(sock, (head) => {
        if (head.startsWith('GET /part')) sock.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc');
      });
    }));
    const pool = poolTo(s, { timeouts: { read: 150 } });
    const head = await failure(fetch1(pool, { path: '/' }));
    expect(head).toMatchObject({ code: 'MERIDIAN_ERR_UPSTREAM_READ_TIMEOUT', phase: 'read', retryable: false });
    const body = await failure(fetch1(pool, { path: '/part' }));
    expect(body).toMatchObject({ code: 'MERIDIAN_ERR_UPSTREAM_READ_TIMEOUT', phase: 'read' });
    // A per-request read timeout overrides the pool's.
    const own = await failure(fetch1(pool, { path: '/', readTimeout: 50 }));
    expect((own as Http1Error).params).toMatchObject({ ms: 50 });
    expect(pool.stats().connections).toBe(0);
  });

  it('times out sending a request body that stalls', async () => {
    const s = await up(httpUpstream((req, res) => req.on('end', () => res.end('never')).resume()));
    const pool = poolTo(s, { timeouts: { send: 150 } });
    const body = new PassThrough();
    body.write('the first bytes, and then nothing');
    const err = await failure(fetch1(pool, { method: 'POST', path: '/', body }));
    expect(err).toMatchObject({ code: 'MERIDIAN_ERR_UPSTREAM_SEND_TIMEOUT', phase: 'send', retryable: false });
    expect(gatewayErrorOf(err as Http1Error, 'u1').params).toEqual({ upstream: 'u1', phase: 'send' });
  });

  it('passes the request body stream error to the caller as it is', async () => {
    const s = await up(httpUpstream((req, res) => req.on('end', () => res.end()).resume()));
    const pool = poolTo(s);
    const body = new PassThrough();
    const limit = new Error('body too large');
    setTimeout(() => body.destroy(limit), 10);
    expect(await failure(fetch1(pool, { method: 'POST', path: '/', body }))).toBe(limit);
  });

  it.each([
    ['two content-lengths', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nok', 'BAD_RESPONSE'],
    ['content-length and transfer-encoding', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', 'BAD_RESPONSE'],
    ['a content-length list', 'HTTP/1.1 200 OK\r\ncontent-length: 2, 2\r\n\r\nok', 'BAD_RESPONSE'],
    ['transfer-encoding other than chunked', 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 'BAD_RESPONSE'],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n', 'BAD_RESPONSE'],
    ['a chunk size too large', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nfffffffffffffff\r\n', 'BAD_RESPONSE'],
    ['chunk data longer than its size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nokk\r\n0\r\n\r\n', 'BAD_RESPONSE'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nx-a: b\r\n c\r\ncontent-length: 0\r\n\r\n', 'BAD_RESPONSE'],
    ['space before the colon', 'HTTP/1.1 200 OK\r\ncontent-length : 0\r\n\r\n', 'BAD_RESPONSE'],
    ['a bare LF', 'HTTP/1.1 200 OK\r\nx-a: b\nx-b: c\r\ncontent-length: 0\r\n\r\n', 'BAD_RESPONSE'],
    ['a NUL in a value', 'HTTP/1.1 200 OK\r\nx-a: b\u0000c\r\ncontent-length: 0\r\n\r\n', 'BAD_RESPONSE'],
    ['a bad status line', 'HTTP/2.0 200 OK\r\ncontent-length: 0\r\n\r\n', 'BAD_RESPONSE'],
    ['a 101 to a plain request', 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n', 'BAD_RESPONSE'],
    ['a huge head', `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(40_000)}\r\ncontent-length: 0\r\n\r\n`, 'HEAD_TOO_LARGE'],
    ['a head that never ends', `HTTP/1.1 200 OK\r\n${'x-a: b\r\n'.repeat(10_000)}`, 'HEAD_TOO_LARGE'],
  ])('refuses a response with %s, and survives', async (_name, wire, code) => {
    const s = await up(rawUpstream((sock) => onRequestHeads(sock, () => sock.write(wire))));
    const pool = poolTo(s);
    const err = await failure(fetch1(pool, { path: '/' }));
    expect(err).toBeInstanceOf(Http1Error);
    expect(err.code).toBe(`MERIDIAN_ERR_UPSTREAM_${code}`);
    expect(err.retryable).toBe(false);
    expect(pool.stats().connections).toBe(0);
  });

  it('refuses to send a header that could split the request, before connecting', async () => {
    const s = await up(httpUpstream((_req, res) => res.end()));
    const pool = poolTo(s);
    for (const headers of [['x-a', 'b\r\ntransfer-encoding: chunked'], ['x a', 'b'], ['x-a', 'b\nc'], ['content-length', '1', 'transfer-encoding', 'chunked']]) {
      const err = await failure(fetch1(pool, { path: '/', headers }));
      expect(err).toMatchObject({ code: 'MERIDIAN_ERR_UPSTREAM_BAD_REQUEST', retryable: false });
    }
    expect(await failure(fetch1(pool, { path: '/a b' }))).toMatchObject({ code: 'MERIDIAN_ERR_UPSTREAM_BAD_REQUEST' });
    // Entries past those a strict parser produced (checkedHeaders) are checked all the same.
    expect(await failure(fetch1(pool, { path: '/', headers: ['x-parsed', 'ok', 'x-added', 'b\r\nx: y'], checkedHeaders: 2 }))).toMatchObject({ code: 'MERIDIAN_ERR_UPSTREAM_BAD_REQUEST' });
    expect(s.connections()).toBe(0);
  });
});

describe('Http1Pool upgrade', () => {
  it('hands the socket and the bytes after the 101 head to the caller', async () => {
    const s = await up(rawUpstream((sock) => {
      onRequestHeads(sock, (head) => {
        if (!/\r\nupgrade: echo/i.test(head)) {
          sock.end('HTTP/1.1 426 Upgrade Required\r\ncontent-length: 4\r\n\r\nnope');
          return;
        }
        sock.removeAllListeners('data');
        sock.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\nhello');
        sock.on('data', (d) => sock.write(d));
      });
    }));
    const pool = poolTo(s);
    const got = await new Promise<{ headers: string[]; socket: Socket; head: Buffer }>((resolve, reject) => {
      pool.request({ method: 'GET', path: '/ws', headers: ['connection', 'upgrade', 'upgrade', 'echo'], body: null, upgrade: true }, {
        onResponse: () => reject(new Error('not an upgrade')),
        onData: () => true,
        onEnd: () => undefined,
        onError: reject,
        onUpgrade: (headers, socket, head) => resolve({ headers, socket, head }),
      });
    });
    expect(header(got.headers, 'upgrade')).toBe('echo');
    expect(got.head.toString()).toBe('hello');
    expect(pool.stats().connections).toBe(0);
    got.socket.write('ping');
    const [echo] = (await once(got.socket, 'data')) as [Buffer];
    expect(echo.toString()).toBe('ping');
    got.socket.destroy();
    // Any other answer to an upgrade request is an ordinary response.
    const refused = await fetch1(pool, { path: '/ws', headers: ['connection', 'upgrade', 'upgrade', 'other'], upgrade: true });
    expect(refused.status).toBe(426);
    expect(refused.body.toString()).toBe('nope');
  });
});

describe('http1PoolOptions', () => {
  it('maps the gateway pool settings and upstream timeouts, and refuses https nodes', () => {
    const settings = { scheme: 'http' as const, host: '127.0.0.1', port: 8080, connections: 16, idleTimeoutMs: 30_000, connectTimeoutMs: 2_000, servername: undefined };
    expect(http1PoolOptions(settings, { connect: 2_000, send: 10_000, read: 20_000 })).toEqual({ host: '127.0.0.1', port: 8080, connections: 16, keepAliveTimeout: 30_000, timeouts: { connect: 2_000, send: 10_000, read: 20_000 } });
    expect(() => http1PoolOptions({ ...settings, scheme: 'https' }, { connect: 1, send: 1, read: 1 })).toThrow(/plain-HTTP/);
  });
});

const NGINX = '/usr/sbin/nginx';

describe.skipIf(!existsSync(NGINX))('Http1Pool against nginx', () => {
  let proc: ChildProcess;
  let dir: string;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'meridian-http1-nginx-'));
    // keepalive_timeout 1s: nginx closes idle connections without announcing when.
    writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, `  keepalive_timeout 1s;
  server {
    listen 127.0.0.1:${port};
    location / { default_type text/plain; return 200 "hello from nginx"; }
    location /empty { return 204; }
  }`));
    proc = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'ignore' });
    const probe = new Http1Pool({ host: '127.0.0.1', port });
    await vi.waitFor(() => fetch1(probe, { path: '/' }), { timeout: 10_000, interval: 100 });
    probe.destroy();
  });
  afterAll(() => {
    proc.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('reuses one socket, reads HEAD and 204 without a body', async () => {
    const pool = new Http1Pool({ host: '127.0.0.1', port });
    pools.push(pool);
    for (let i = 0; i < 10; i++) expect((await fetch1(pool, { path: `/${i}` })).body.toString()).toBe('hello from nginx');
    const head = await fetch1(pool, { method: 'HEAD', path: '/' });
    expect(header(head.headers, 'content-length')).toBe('16');
    expect(head.body.length).toBe(0);
    expect((await fetch1(pool, { path: '/empty' })).status).toBe(204);
    expect((await fetch1(pool, { path: '/' })).body.toString()).toBe('hello from nginx');
    expect(pool.stats().opened).toBe(1);
  });

  it('drops the socket nginx closes at its keep-alive timeout, and carries on', async () => {
    const pool = new Http1Pool({ host: '127.0.0.1', port });
    pools.push(pool);
    await fetch1(pool, { path: '/' });
    await vi.waitFor(() => expect(pool.stats().connections).toBe(0), { timeout: 5_000 });
    expect((await fetch1(pool, { path: '/' })).body.toString()).toBe('hello from nginx');
    expect(pool.stats().opened).toBe(2);
  });
});
