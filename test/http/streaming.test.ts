/**
 * 20 MB chunked bodies both ways, with a slow reader on the other side: the engine's buffered
 * bytes (request side) and the socket's write queue (response side) stay bounded.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { rawClient, startEngine, type Running } from './engine-helpers.js';

const TOTAL = 20 * 1024 * 1024;
const PIECE = 64 * 1024;
const BOUND = 1024 * 1024;

let run: Running | undefined;
afterEach(async () => { await run?.close(); run = undefined; });

/** The i-th piece of a body: its bytes say where they belong, so a chunk overwritten after delivery shows. */
const pieceAt = (i: number): Buffer => Buffer.alloc(PIECE, i % 251);

/** Bytes of `chunk` (at body offset `at`) that are not what pieceAt put there, sampled every 1 KiB and at the end. */
function misplaced(chunk: Buffer, at: number): number {
  const wrongAt = (i: number): number => (chunk[i] === Math.floor((at + i) / PIECE) % 251 ? 0 : 1);
  let wrong = chunk.length > 0 ? wrongAt(chunk.length - 1) : 0;
  for (let i = 0; i < chunk.length; i += 1024) wrong += wrongAt(i);
  return wrong;
}

/** Resolves after roughly a millisecond: the pace of the slow side. */
const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

describe('streaming with bounded memory', () => {
  it('a 20 MB chunked request body read slowly: the engine buffers less than 1 MB', async () => {
    let maxBuffered = 0;
    let received = 0;
    let wrong = 0;
    run = await startEngine({
      onRequest(req, res) {
        const body = req.body;
        body.on('data', (chunk: Buffer) => {
          wrong += misplaced(chunk, received);
          received += chunk.length;
          maxBuffered = Math.max(maxBuffered, (run as Running).engine.bufferedBytes());
          body.pause();
          void tick().then(() => body.resume());
        });
        body.on('end', () => res.end(`received ${req.bodyBytes}`));
      },
    });
    const client = await rawClient(run.port);
    client.send('POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (let sent = 0; sent < TOTAL; sent += PIECE) {
      if (!client.socket.write(Buffer.concat([Buffer.from(`${PIECE.toString(16)}\r\n`), pieceAt(sent / PIECE), Buffer.from('\r\n')]))) {
        await once(client.socket, 'drain');
      }
    }
    client.send('0\r\n\r\n');
    const deadline = Date.now() + 50_000;
    while (!client.text().includes(`received ${TOTAL}`) && Date.now() < deadline) await once(client.socket, 'data');
    expect(received).toBe(TOTAL);
    // Chunks held while the reader paused are the bytes sent (not the next reads' bytes).
    expect(wrong).toBe(0);
    expect(client.text()).toContain(`received ${TOTAL}`);
    console.log(`request body: engine buffered at most ${maxBuffered} bytes`);
    expect(maxBuffered).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThan(BOUND);
    client.socket.destroy();
  }, 60_000);

  it('the same 20 MB read through a sink (readBody) that stops the flow after each chunk: less than 1 MB buffered', async () => {
    let maxBuffered = 0;
    run = await startEngine({
      onRequest(req, res) {
        req.readBody({
          onData() {
            maxBuffered = Math.max(maxBuffered, (run as Running).engine.bufferedBytes());
            void tick().then(() => req.resumeBody());
            return false;
          },
          onEnd() { res.end(`received ${req.bodyBytes}`); },
          onError() { /* the client went away */ },
        });
      },
    });
    const client = await rawClient(run.port);
    client.send(`POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${TOTAL}\r\n\r\n`);
    const piece = Buffer.alloc(PIECE, 0x61);
    for (let sent = 0; sent < TOTAL; sent += PIECE) {
      if (!client.socket.write(piece)) await once(client.socket, 'drain');
    }
    const deadline = Date.now() + 50_000;
    while (!client.text().includes(`received ${TOTAL}`) && Date.now() < deadline) await once(client.socket, 'data');
    expect(client.text()).toContain(`received ${TOTAL}`);
    console.log(`request body through a sink: engine buffered at most ${maxBuffered} bytes`);
    expect(maxBuffered).toBeLessThan(BOUND);
    client.socket.destroy();
  }, 60_000);

  it('a 20 MB chunked response written with backpressure to a slow reader: the write queue stays under 1 MB', async () => {
    let maxQueued = 0;
    run = await startEngine({
      onRequest(req, res) {
        const piece = Buffer.alloc(PIECE, 0x62);
        let sent = 0;
        const pump = (): void => {
          while (sent < TOTAL) {
            sent += PIECE;
            const ok = res.write(piece);
            maxQueued = Math.max(maxQueued, req.socket.writableLength);
            if (!ok) { res.onDrain(pump); return; }
          }
          res.end();
        };
        pump();
      },
    });
    const client = await rawClient(run.port);
    // Read slowly: pause after each chunk, resume a tick later.
    let done = false;
    client.socket.on('data', (chunk: Buffer) => {
      if (chunk.toString('latin1').endsWith('\r\n0\r\n\r\n')) done = true;
      client.socket.pause();
      void tick().then(() => client.socket.resume());
    });
    client.send('GET /download HTTP/1.1\r\nHost: a\r\n\r\n');
    const deadline = Date.now() + 50_000;
    while (!done && Date.now() < deadline) await once(client.socket, 'data');
    const text = client.text();
    const headEnd = text.indexOf('\r\n\r\n');
    expect(text.slice(0, headEnd)).toContain('Transfer-Encoding: chunked');
    // Decode the chunked body and count it.
    let p = headEnd + 4;
    let total = 0;
    for (;;) {
      const lineEnd = text.indexOf('\r\n', p);
      const size = parseInt(text.slice(p, lineEnd), 16);
      if (size === 0) break;
      total += size;
      p = lineEnd + 2 + size + 2;
    }
    expect(total).toBe(TOTAL);
    console.log(`response body: socket write queue at most ${maxQueued} bytes`);
    expect(maxQueued).toBeGreaterThan(0);
    expect(maxQueued).toBeLessThan(BOUND);
    client.socket.destroy();
  }, 60_000);
});
