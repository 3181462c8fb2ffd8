import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer as createHttpServer, request as httpRequest, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Pool } from 'undici';
import type { HttpEngine } from '../../../src/http/index.js';
import { Http1Pool } from '../../../src/upstream/http1/index.js';
import { PoolManager } from '../../../src/upstream/pools.js';
import { send, startGateway, startUpstream, type TestGateway } from '../helpers.js';
import { freePort } from '../../harness/index.js';

/**
 * The exchange on Meridian's own HTTP/1.1 client (plain-HTTP nodes), through the real gateway:
 * what an upstream that misbehaves mid-exchange does to the client, retries, timeouts with their
 * phase, and a large response to a slow client with bounded memory.
 */

/**
 * A raw upstream that answers per request path, to close connections where a server would not;
 * `closeAll`: it reads every request and closes without answering.
 */
async function rawUpstream(closeAll = false): Promise<{ port: number; connections: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const u = { port: 0, connections: 0, close: (): Promise<void> => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  }) };
  const server: Server = createServer((socket) => {
    u.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const path = buf.slice(buf.indexOf(' ') + 1, buf.indexOf(' ', buf.indexOf(' ') + 1));
      if (path.endsWith('/early')) {
        // Reads no more of the body (it backs up to the gateway), then answers.
        socket.pause();
        setTimeout(() => socket.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nnope'), 300);
        return;
      }
      const length = /\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end));
      if (buf.length - end - 4 < Number(length?.[1] ?? 0)) return; // wait for the whole body
      buf = '';
      if (closeAll || path.endsWith('/close')) socket.destroy(); // read the request, answer nothing
      else if (path.endsWith('/half-head')) socket.end('HTTP/1.1 200 OK\r\nContent-Le');
      else if (path.endsWith('/half-body')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
      else socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-node: ${u.port}\r\n\r\nok`);
    });
  });
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  u.port = (server.address() as AddressInfo).port;
  return u;
}

interface RawReply {
  status: number;
  head: string;
  body: string;
}

/** A client keeping one connection: requests are written on it one after the other. */
function keepAliveClient(port: number): { socket: Socket; request(raw: string): Promise<RawReply> } {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  let buf = Buffer.alloc(0);
  let waiter: (() => void) | undefined;
  socket.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    waiter?.();
  });
  socket.on('close', () => waiter?.());
  const reply = (): RawReply | undefined => {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const head = buf.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (buf.length < end + 4 + length) return undefined;
    const body = buf.subarray(end + 4, end + 4 + length).toString();
    buf = buf.subarray(end + 4 + length);
    return { status: Number(head.slice(9, 12)), head, body };
  };
  return {
    socket,
    request: (raw) => new Promise<RawReply>((resolve, reject) => {
      waiter = () => {
        const r = reply();
        if (r !== undefined) resolve(r);
        else if (socket.destroyed) reject(new Error('client connection closed'));
      };
      socket.write(raw);
    }),
  };
}

describe('exchange on the HTTP/1.1 upstream client', () => {
  let raw: Awaited<ReturnType<typeof rawUpstream>>;
  let gw: TestGateway;

  beforeAll(async () => {
    raw = await rawUpstream();
    gw = await startGateway({
      routes: [
        { id: 'raw', paths: ['/raw/*'], upstream: { nodes: [{ host: '127.0.0.1', port: raw.port }], checks: { passive: { failures: 100 } } } },
        { id: 'limited', paths: ['/limited/*'], max_body_size: 12 * 1024 * 1024, upstream: { nodes: [{ host: '127.0.0.1', port: raw.port }], checks: { passive: { failures: 100 } } } },
      ],
    });
  });
  afterAll(async () => {
    await gw.stop();
    await raw.close();
  });

  it('gives plain-HTTP nodes an Http1Pool and HTTPS nodes an undici Pool', async () => {
    const pools = new PoolManager();
    const settings = { host: '127.0.0.1', port: 1, connections: 4, idleTimeoutMs: 1_000, connectTimeoutMs: 1_000 };
    expect(pools.acquire({ ...settings, scheme: 'http', servername: undefined }).pool).toBeInstanceOf(Http1Pool);
    expect(pools.acquire({ ...settings, scheme: 'https', servername: 'a.test' }).pool).toBeInstanceOf(Pool);
    await pools.closeAll();
    const node = gw.worker.runtime?.upstreams.get('route.raw')?.select(undefined, undefined);
    expect(node?.pool).toBeInstanceOf(Http1Pool);
  });

  it('answers 502 when the upstream closes before or inside its head, and serves the next request on the same client connection', async () => {
    const client = keepAliveClient(gw.port);
    try {
      for (const path of ['/raw/close', '/raw/half-head']) {
        // A POST with a body: not retried, so the failure is the answer.
        const failed = await client.request(`POST ${path} HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\n\r\ndata`);
        expect(failed.status).toBe(502);
        expect(JSON.parse(failed.body)).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR' });
        const next = await client.request('GET /raw/ok HTTP/1.1\r\nHost: gw\r\n\r\n');
        expect(next.status).toBe(200);
        expect(next.body).toBe('ok');
      }
      expect(client.socket.destroyed).toBe(false);
    } finally {
      client.socket.destroy();
    }
  });

  it('serves the next request on the client connection after an upstream answered before reading the request body', async () => {
    const client = keepAliveClient(gw.port);
    try {
      const body = Buffer.alloc(16 * 1024 * 1024, 97);
      const early = client.request(`POST /raw/early HTTP/1.1\r\nHost: gw\r\nContent-Length: ${body.length}\r\n\r\n`);
      client.socket.write(body);
      const answer = await early;
      expect(answer.status).toBe(413);
      expect(answer.body).toBe('nope');
      // The rest of the body is read and dropped, then the next request is served.
      const next = await client.request('GET /raw/ok HTTP/1.1\r\nHost: gw\r\n\r\n');
      expect(next.status).toBe(200);
      expect(next.body).toBe('ok');
      // Chunked through max_body_size: the rest passes the limit while it is dropped, harmlessly.
      const limited = client.request(`POST /limited/early HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n`);
      client.socket.write(body);
      client.socket.write('\r\n0\r\n\r\n');
      expect((await limited).body).toBe('nope'); // the upstream's answer, not the gateway's limit
      expect((await client.request('GET /raw/ok HTTP/1.1\r\nHost: gw\r\n\r\n')).body).toBe('ok');
    } finally {
      client.socket.destroy();
    }
  });

  it('cuts the client response when the upstream closes mid-body after the head went out; the next request is served', async () => {
    const before = raw.connections;
    const cut = await new Promise<{ status: number; got: string; aborted: boolean }>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: gw.port, path: '/raw/half-body', agent: false }, (res) => {
        let got = '';
        res.on('data', (c: Buffer) => (got += c.toString()));
        res.on('error', () => undefined);
        res.on('close', () => resolve({ status: res.statusCode ?? 0, got, aborted: !res.complete }));
      });
      req.on('error', () => undefined);
      req.end();
    });
    expect(cut.status).toBe(200);
    expect(cut.got).toBe('0123456789');
    expect(cut.aborted).toBe(true); // 90 bytes short: the client knows it is cut, not complete
    const next = await send(`${gw.url}/raw/ok`);
    expect(next.status).toBe(200);
    expect(next.body).toBe('ok');
    expect(raw.connections).toBeGreaterThan(before); // the cut upstream connection was not reused
  });
});

describe('exchange on the HTTP/1.1 upstream client: retries and timeouts', () => {
  it('retries an idempotent request on another node when a node refuses or closes without answering, and counts the node', async () => {
    const live = await rawUpstream();
    const closer = await rawUpstream(true);
    const deadPort = await freePort();
    const gw = await startGateway({
      routes: [
        { id: 'refused', paths: ['/refused/*'], upstream: { nodes: [{ host: '127.0.0.1', port: deadPort }, { host: '127.0.0.1', port: live.port }], retries: 1, checks: { passive: { failures: 2, base_ejection_ms: 60_000 } } } },
        { id: 'closing', paths: ['/closing/*'], upstream: { nodes: [{ host: '127.0.0.1', port: closer.port }, { host: '127.0.0.1', port: live.port }], retries: 1, checks: { passive: { failures: 100 } } } },
      ],
    });
    try {
      for (let i = 0; i < 4; i++) {
        const r = await send(`${gw.url}/refused/ok`);
        expect(r.status).toBe(200);
        expect(r.headers['x-node']).toBe(String(live.port));
      }
      // Refused twice: the dead node is ejected, the live one is not.
      const states = Object.values(gw.worker.status().upstreams).flat().map((n) => [n.node, n.state]);
      expect(states).toContainEqual([`127.0.0.1:${deadPort}`, 'ejected']);
      expect(states).toContainEqual([`127.0.0.1:${live.port}`, 'healthy']);
      // The closer reads each request and closes: a GET is sent again to the live node, a POST is not.
      for (let i = 0; i < 4; i++) {
        const r = await send(`${gw.url}/closing/x`);
        expect(r.status).toBe(200);
        expect(r.headers['x-node']).toBe(String(live.port));
      }
      expect(closer.connections).toBeGreaterThan(0);
      const statuses = new Set<number>();
      for (let i = 0; i < 4; i++) statuses.add((await send(`${gw.url}/closing/x`, { method: 'POST', body: 'data' })).status);
      expect(statuses).toEqual(new Set([200, 502]));
    } finally {
      await gw.stop();
      await live.close();
      await closer.close();
    }
  });

  it('maps timeouts to 504 with their phase: read (no answer), send (the request body stalls; the connection is closed)', async () => {
    const silent = await startUpstream(() => undefined);
    const gw = await startGateway({
      routes: [{ id: 'silent', paths: ['/silent/*'], upstream: { nodes: [{ host: '127.0.0.1', port: silent.port }], checks: { passive: { failures: 100 } } }, timeout: { connect: 1_000, send: 300, read: 300 } }],
    });
    const client = keepAliveClient(gw.port);
    try {
      const read = await send(`${gw.url}/silent/x`);
      expect(read.status).toBe(504);
      expect(read.json()).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_UPSTREAM_TIMEOUT', message: `upstream route.silent timed out (read)` });
      // One chunk, then nothing: no progress sending the body.
      const stalled = await client.request('POST /silent/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      expect(stalled.status).toBe(504);
      expect(JSON.parse(stalled.body)).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_UPSTREAM_TIMEOUT', message: `upstream route.silent timed out (send)` });
      expect(stalled.head.toLowerCase()).toContain('\r\nconnection: close');
    } finally {
      client.socket.destroy();
      await gw.stop();
      await silent.close();
    }
  });
});

describe('exchange on the HTTP/1.1 upstream client: large bodies', () => {
  let upstream: HttpServer;
  let upstreamPaused = 0;
  let gw: TestGateway;
  const SIZE = 20 * 1024 * 1024;
  const PIECE = 64 * 1024;

  beforeAll(async () => {
    // 20 MB in chunked encoding (no Content-Length), written as fast as backpressure allows.
    upstream = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let sent = 0;
      const piece = Buffer.alloc(PIECE);
      const more = (): void => {
        while (sent < SIZE) {
          piece.fill(sent / PIECE % 251);
          sent += PIECE;
          if (!res.write(Buffer.from(piece))) {
            upstreamPaused++;
            res.once('drain', more);
            return;
          }
        }
        res.end();
      };
      more();
    });
    await new Promise<void>((r) => upstream.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    gw = await startGateway({ routes: [{ id: 'big', paths: ['/big'], upstream: { nodes: [{ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }] } }] });
  });
  afterAll(async () => {
    await gw.stop();
    await new Promise<void>((r) => {
      upstream.closeAllConnections();
      upstream.close(() => r());
    });
  });

  it('streams a 20 MB chunked response to a slow client with bounded memory in the gateway', async () => {
    const node = gw.worker.runtime?.upstreams.get('route.big')?.select(undefined, undefined);
    const pool = node?.pool as Http1Pool;
    expect(pool).toBeInstanceOf(Http1Pool);
    // The gateway's side of the client connection (the worker runs in this process).
    const listeners = (gw.worker as unknown as { listeners: Array<{ engine: HttpEngine }> }).listeners;
    let peakUpstream = 0;
    let peakClient = 0;
    let sampled = 0;
    const sampler = setInterval(() => {
      peakUpstream = Math.max(peakUpstream, pool.stats().bufferedBytes);
      for (const s of listeners[0]?.engine.sockets() ?? []) {
        sampled++;
        peakClient = Math.max(peakClient, s.writableLength);
      }
    }, 5);
    try {
      const got = await new Promise<{ bytes: number; chunked: boolean; wrongBytes: number }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: gw.port, path: '/big', agent: false }, (res) => {
          let bytes = 0;
          let wrongBytes = 0;
          res.on('data', (c: Buffer) => {
            for (let i = 0; i < c.length; i += 4096) if (c[i] !== Math.floor((bytes + i) / PIECE) % 251) wrongBytes++;
            bytes += c.length;
            // A slow reader: one read at a time, with a pause after each.
            res.pause();
            setTimeout(() => res.resume(), 1);
          });
          res.on('end', () => resolve({ bytes, chunked: res.headers['transfer-encoding'] === 'chunked', wrongBytes }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
      expect(got.bytes).toBe(SIZE);
      expect(got.wrongBytes).toBe(0);
      expect(got.chunked).toBe(true);
    } finally {
      clearInterval(sampler);
    }
    expect(upstreamPaused).toBeGreaterThan(0); // backpressure reached the upstream
    expect(sampled).toBeGreaterThan(0); // the client side was watched
    expect(peakUpstream).toBeLessThan(256 * 1024);
    expect(peakClient).toBeLessThan(256 * 1024);
  }, 60_000);
});
