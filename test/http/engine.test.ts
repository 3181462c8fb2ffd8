/**
 * The engine's behaviour on real loopback sockets: pipelining, 100-continue, keep-alive and
 * close, HEAD, upgrade hand-off, deadlines, errors after the headers are sent.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HttpEngineOptions } from '../../src/http/index.js';
import { exchangeUntilClose, parseResponses, rawClient, startEngine, type Running } from './engine-helpers.js';

let run: Running | undefined;
afterEach(async () => { await run?.close(); run = undefined; });

async function start(opts: HttpEngineOptions, sharedReads = true): Promise<Running> {
  run = await startEngine(opts, { sharedReads });
  return run;
}

const H = 'Host: a\r\n';

describe('pipelining', () => {
  // Shared reads: the gateway's listeners (pauseOnConnect); else any other net.Server's stream path.
  it.each([true, false])('three requests in one write are answered in order, even when the first answer is the slowest (shared reads: %s)', async (sharedReads) => {
    const delays: Record<string, number> = { '/1': 30, '/2': 10, '/3': 0 };
    const { port, engine } = await start({
      onRequest(req, res) {
        expect(req.socket).toBe(engine.sockets()[0]);
        setTimeout(() => res.writeHead(200, ['X-Path', req.url]).end(`body of ${req.url}`), delays[req.url]);
      },
    }, sharedReads);
    const client = await rawClient(port);
    client.send(`GET /1 HTTP/1.1\r\n${H}\r\nPOST /2 HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\n${H}\r\n`);
    await vi.waitFor(() => expect(parseResponses(client.text())).toHaveLength(3));
    const responses = parseResponses(client.text());
    expect(responses.map((r) => r.headers['x-path'])).toEqual(['/1', '/2', '/3']);
    expect(responses.map((r) => r.body)).toEqual(['body of /1', 'body of /2', 'body of /3']);
    expect(client.closed()).toBe(false);
    client.socket.destroy();
  });
});

describe('reading while a response is pending', () => {
  it('keeps reading a connection whose request waits for its answer, and stops once pipelined bytes arrive', async () => {
    const pending: Array<() => void> = [];
    let served: Socket | undefined;
    const { port, engine } = await start({
      onRequest(req, res) {
        served = req.socket;
        pending.push(() => res.end(`body of ${req.url}`));
      },
    });
    const client = await rawClient(port);
    client.send(`GET /1 HTTP/1.1\r\n${H}\r\n`);
    await vi.waitFor(() => expect(pending).toHaveLength(1));
    const socket = served as Socket;
    // Nothing more sent: the socket is not paused for the wait (no pause/resume per request).
    expect(socket.isPaused()).toBe(false);
    // 8 MB of pipelined requests while the first waits: read no further than what came in
    // before the pause, the rest stays in the kernel and the client.
    const pad = 'x'.repeat(4000);
    client.send(`GET /2 HTTP/1.1\r\n${H}X-Pad: ${pad}\r\n\r\n`.repeat(2000));
    await vi.waitFor(() => expect(socket.isPaused()).toBe(true));
    expect(engine.bufferedBytes()).toBeLessThan(1024 * 1024);
    (pending.shift() as () => void)();
    await vi.waitFor(() => expect(pending).toHaveLength(1));
    (pending.shift() as () => void)();
    await vi.waitFor(() => expect(parseResponses(client.text()).map((r) => r.body)).toEqual(['body of /1', 'body of /2']));
    client.socket.destroy();
  });
});

describe('Expect: 100-continue', () => {
  it('the handler sends 100 Continue, then reads the body', async () => {
    const { port } = await start({
      onRequest(req, res) {
        expect(req.expectsContinue).toBe(true);
        res.writeContinue();
        const parts: Buffer[] = [];
        req.body.on('data', (c: Buffer) => parts.push(c)).on('end', () => res.end(`got ${Buffer.concat(parts).toString()}`));
      },
    });
    const client = await rawClient(port);
    client.send(`POST / HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n`);
    await vi.waitFor(() => expect(client.text()).toBe('HTTP/1.1 100 Continue\r\n\r\n'));
    client.send('hello');
    await vi.waitFor(() => expect(parseResponses(client.text())).toHaveLength(2));
    expect(parseResponses(client.text())[1]?.body).toBe('got hello');
    client.socket.destroy();
  });

  it('a request without a body answered at once keeps the connection, Expect or not', async () => {
    const { port } = await start({ onRequest(_req, res) { res.end('done'); } });
    const client = await rawClient(port);
    client.send(`GET / HTTP/1.1\r\n${H}Expect: 100-continue\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`);
    await vi.waitFor(() => expect(parseResponses(client.text())).toHaveLength(2));
    expect(client.closed()).toBe(false);
    client.socket.destroy();
  });

  it('a final answer without 100 Continue closes the connection (the body may or may not follow)', async () => {
    const { port } = await start({ onRequest(_req, res) { res.writeHead(417).end(); } });
    const text = await exchangeUntilClose(port, `POST / HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n`);
    const [res, ...more] = parseResponses(text);
    expect(res?.status).toBe(417);
    expect(more).toEqual([]);
  });
});

describe('keep-alive and close', () => {
  const hello: HttpEngineOptions = { onRequest(_req, res) { res.end('hi'); } };

  it('HTTP/1.1 keeps the connection for the next request', async () => {
    const { port } = await start(hello);
    const client = await rawClient(port);
    client.send(`GET / HTTP/1.1\r\n${H}\r\n`);
    await vi.waitFor(() => expect(parseResponses(client.text())).toHaveLength(1));
    client.send(`GET / HTTP/1.1\r\n${H}\r\n`);
    await vi.waitFor(() => expect(parseResponses(client.text())).toHaveLength(2));
    expect(parseResponses(client.text())[0]?.headers.connection).toBeUndefined();
    expect(client.closed()).toBe(false);
    client.socket.destroy();
  });

  it('HTTP/1.1 with Connection: close is answered with Connection: close, then closed', async () => {
    const { port } = await start(hello);
    const [res] = parseResponses(await exchangeUntilClose(port, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`));
    expect(res?.headers.connection).toBe('close');
  });

  it('HTTP/1.0 without keep-alive is closed after the answer', async () => {
    const { port } = await start(hello);
    const [res] = parseResponses(await exchangeUntilClose(port, 'GET / HTTP/1.0\r\n\r\n'));
    expect(res?.status).toBe(200);
    expect(res?.body).toBe('hi');
  });

  it('HTTP/1.0 with Connection: keep-alive stays open and says so', async () => {
    const { port } = await start(hello);
    const client = await rawClient(port);
    client.send('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await vi.waitFor(() => expect(parseResponses(client.text())).toHaveLength(1));
    expect(parseResponses(client.text())[0]?.headers.connection).toBe('keep-alive');
    expect(client.closed()).toBe(false);
    client.socket.destroy();
  });

  it('an HTTP/1.0 body of unknown length is delimited by closing the connection', async () => {
    const { port } = await start({ onRequest(_req, res) { res.write('a'); res.end('b'); } });
    const text = await exchangeUntilClose(port, 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    expect(text).not.toMatch(/content-length|transfer-encoding/i);
    expect(text.endsWith('\r\n\r\nab')).toBe(true);
  });

  it('the idle keep-alive deadline closes the connection', async () => {
    const { port } = await start({ ...hello, timeouts: { keepAliveMs: 150, checkMs: 25 } });
    const client = await rawClient(port);
    client.send(`GET / HTTP/1.1\r\n${H}\r\n`);
    await vi.waitFor(() => expect(client.closed()).toBe(true), { timeout: 3000, interval: 20 });
    expect(parseResponses(client.text())).toHaveLength(1);
  });
});

describe('a response that ends before its request body', () => {
  it('a small rest of the body is read and dropped, and the next request is served', async () => {
    const { port } = await start({ onRequest(req, res) { res.end(`${req.method} ${req.url}`); } });
    const client = await rawClient(port);
    client.send(`POST /early HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc`);
    await vi.waitFor(() => expect(parseResponses(client.text())).toHaveLength(1));
    client.send(`defghijGET /next HTTP/1.1\r\n${H}\r\n`);
    await vi.waitFor(() => expect(parseResponses(client.text())).toHaveLength(2));
    expect(parseResponses(client.text()).map((r) => r.body)).toEqual(['POST /early', 'GET /next']);
    client.socket.destroy();
  });

  it('a rest larger than maxDiscardBytes closes the connection after the answer', async () => {
    const { port } = await start({ onRequest(_req, res) { res.end('no'); }, limits: { maxDiscardBytes: 100 } });
    const text = await exchangeUntilClose(port, `POST / HTTP/1.1\r\n${H}Content-Length: 1000\r\n\r\nabc`);
    expect(parseResponses(text).map((r) => r.body)).toEqual(['no']);
  });

  it('bodyBytes counts the decoded body for the caller\'s own limit (413 is the caller\'s)', async () => {
    const { port } = await start({
      onRequest(req, res) {
        req.body.on('data', () => {
          if (req.bodyBytes > 5 && !res.headersSent) res.writeHead(413, []).end();
        }).on('end', () => { if (!res.finished) res.end(`ok ${req.bodyBytes}`); });
      },
    });
    const small = await rawClient(port);
    small.send(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`);
    await vi.waitFor(() => expect(parseResponses(small.text())[0]?.body).toBe('ok 3'));
    small.socket.destroy();
    const big = await rawClient(port);
    big.send(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n9\r\nabcdefghi\r\n`);
    await vi.waitFor(() => expect(parseResponses(big.text())[0]?.status).toBe(413));
    big.socket.destroy();
  });
});

describe('reading the body', () => {
  it('a body read late (the reader comes after an await) is complete; the engine waited for it', async () => {
    const { port } = await start({
      onRequest(req, res) {
        setTimeout(() => {
          const parts: Buffer[] = [];
          req.body.on('data', (c: Buffer) => parts.push(c)).on('end', () => res.end(Buffer.concat(parts)));
        }, 50);
      },
    });
    const client = await rawClient(port);
    client.send(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n`);
    await vi.waitFor(() => expect(parseResponses(client.text())[0]?.body).toBe('hello world'));
    client.socket.destroy();
  });

  it('a body read late does not let the next pipelined request in before its response', async () => {
    const order: string[] = [];
    const { port } = await start({
      onRequest(req, res) {
        order.push(`start ${req.url}`);
        setTimeout(() => {
          req.body.on('data', () => { /* drain */ }).on('end', () => {
            setTimeout(() => { order.push(`end ${req.url}`); res.end(req.url); }, 20);
          });
        }, 30);
      },
    });
    const client = await rawClient(port);
    client.send(`POST /a HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabcPOST /b HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\nx`);
    await vi.waitFor(() => expect(parseResponses(client.text())).toHaveLength(2));
    expect(order).toEqual(['start /a', 'end /a', 'start /b', 'end /b']);
    client.socket.destroy();
  });

  it('readBody: chunks, then onEnd with the trailers set; onEnd at once without a body', async () => {
    const { port } = await start({
      onRequest(req, res) {
        const seen: string[] = [];
        req.readBody({
          onData(c) { seen.push(c.toString()); },
          onEnd() { res.end(`${seen.join('|')} trailers=${req.trailers.join(',')}`); },
          onError() { /* not here */ },
        });
      },
    });
    const client = await rawClient(port);
    client.send(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`);
    await vi.waitFor(() => expect(parseResponses(client.text())).toHaveLength(2));
    expect(parseResponses(client.text()).map((r) => r.body)).toEqual(['abc|de trailers=X-T,1', ' trailers=']);
    client.socket.destroy();
  });
});

describe('HEAD', () => {
  it('gets the headers GET would get and no body; the next pipelined request is framed right', async () => {
    const { port } = await start({ onRequest(req, res) { res.end(req.method === 'HEAD' ? 'hello' : 'world!'); } });
    const client = await rawClient(port);
    client.send(`HEAD / HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n${H}\r\n`);
    await vi.waitFor(() => expect(parseResponses(client.text(), (i) => i === 0)).toHaveLength(2));
    const [head, get] = parseResponses(client.text(), (i) => i === 0);
    expect(head?.headers['content-length']).toBe('5');
    expect(get?.body).toBe('world!');
    expect(client.text()).not.toContain('hello');
    client.socket.destroy();
  });
});

describe('upgrade', () => {
  it('hands the socket over with the bytes read past the head', async () => {
    const { port } = await start({
      onRequest(_req, res) { res.end('plain'); },
      onUpgrade(req, socket, head) {
        expect(req.upgrade).toBe('websocket');
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhead=${head.toString()};`);
        socket.on('data', (c: Buffer) => socket.write(`echo=${c.toString()};`));
      },
    });
    const client = await rawClient(port);
    client.send(`GET /ws HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\nFIRST`);
    await vi.waitFor(() => expect(client.text()).toContain('head=FIRST;'));
    client.send('SECOND');
    await vi.waitFor(() => expect(client.text()).toContain('echo=SECOND;'));
    client.socket.destroy();
  });

  it('without an upgrade handler, an Upgrade request is served as a plain one', async () => {
    const { port } = await start({ onRequest(_req, res) { res.end('plain'); } });
    const client = await rawClient(port);
    client.send(`GET / HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    await vi.waitFor(() => expect(parseResponses(client.text())[0]?.body).toBe('plain'));
    client.socket.destroy();
  });
});

describe('deadlines', () => {
  it('slowloris: a head trickled a byte at a time gets 408 at the head deadline, although bytes keep coming', async () => {
    const { port } = await start({ onRequest(_req, res) { res.end(); }, timeouts: { headersMs: 300, checkMs: 25 } });
    const client = await rawClient(port);
    const started = Date.now();
    const head = `GET / HTTP/1.1\r\n${H}${'X-Slow: trickle\r\n'.repeat(100)}\r\n`;
    let i = 0;
    const trickle = setInterval(() => { if (!client.closed() && i < head.length) client.send(head[i++] as string); }, 10);
    try {
      await vi.waitFor(() => expect(client.closed()).toBe(true), { timeout: 5000, interval: 20 });
    } finally {
      clearInterval(trickle);
    }
    expect(i).toBeLessThan(head.length); // the head was not complete
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const [res] = parseResponses(client.text());
    expect(res?.status).toBe(408);
    expect(JSON.parse(res?.body ?? '{}')).toMatchObject({ code: 'MERIDIAN_ERR_HTTP_HEADERS_TIMEOUT' });
  });

  it('a body that stops arriving gets 408 at the request deadline', async () => {
    const { port } = await start({
      onRequest(req, res) { req.body.on('error', () => { /* engine answers */ }).on('end', () => res.end()).resume(); },
      timeouts: { requestMs: 300, checkMs: 25 },
    });
    const client = await rawClient(port);
    client.send(`POST / HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc`);
    await vi.waitFor(() => expect(client.closed()).toBe(true), { timeout: 5000, interval: 20 });
    const [res] = parseResponses(client.text());
    expect(res?.status).toBe(408);
    expect(JSON.parse(res?.body ?? '{}')).toMatchObject({ code: 'MERIDIAN_ERR_HTTP_REQUEST_TIMEOUT' });
  });
});

describe('errors after the headers are sent', () => {
  it('destroy() closes the connection: the client sees a truncated body, never a complete wrong one', async () => {
    const { port } = await start({
      onRequest(_req, res) {
        res.writeHead(200, ['Content-Length', '10']);
        res.write('abc');
        setImmediate(() => res.destroy(new Error('upstream went away')));
      },
    });
    const client = await rawClient(port);
    client.send(`GET / HTTP/1.1\r\n${H}\r\n`);
    await once(client.socket, 'close');
    expect(client.text()).toMatch(/\r\n\r\nabc$/);
  });

  it('a body longer than the Content-Length closes the connection', async () => {
    const { port } = await start({
      onRequest(_req, res) { res.writeHead(200, ['Content-Length', '2']); res.end('abc'); },
    });
    const text = await exchangeUntilClose(port, `GET / HTTP/1.1\r\n${H}\r\n`);
    expect(text).not.toContain('abc');
  });

  it('a response header with CR/LF is refused before anything is written', async () => {
    let thrown: unknown;
    const { port } = await start({
      onRequest(_req, res) {
        try { res.writeHead(200, ['X-A', 'a\r\nSet-Cookie: evil']).end(); } catch (err) { thrown = err; res.writeHead(500, []).end(); }
      },
    });
    const client = await rawClient(port);
    client.send(`GET / HTTP/1.1\r\n${H}\r\n`);
    await vi.waitFor(() => expect(parseResponses(client.text())).toHaveLength(1));
    expect((thrown as Error).name).toBe('InvalidHeaderError');
    expect(client.text()).not.toContain('evil');
    client.socket.destroy();
  });
});
