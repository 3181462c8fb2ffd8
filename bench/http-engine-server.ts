/**
 * The servers of bench/http-engine.ts, one per process so that each one's CPU time can be read
 * from /proc: `engine` (src/http), `node` (node:http), `net` (node:net answering fixed bytes
 * once it has found the end of each request head). All answer `hello world\n` with a Date.
 * Usage: node --import tsx bench/http-engine-server.ts <engine|node|net> (prints the port).
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { createHttpEngine } from '../src/http/index.js';

const BODY = Buffer.from('hello world\n');
const kind = process.argv[2];

function ready(port: number): void {
  process.stdout.write(`PORT ${port}\n`);
}

if (kind === 'engine') {
  const engine = createHttpEngine({
    onRequest(_req, res) { res.writeHead(200, ['Content-Type', 'text/plain']).end(BODY); },
  });
  const server = createServer({ allowHalfOpen: true });
  engine.attach(server);
  server.listen(0, '127.0.0.1', () => ready((server.address() as { port: number }).port));
} else if (kind === 'node') {
  const server = createHttpServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
    res.end(BODY);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => ready((server.address() as { port: number }).port));
} else if (kind === 'net') {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    let tail = '';
    socket.on('data', (chunk: Buffer) => {
      // Count request heads (GETs without bodies) and answer each: the floor of a socket server.
      const text = tail + chunk.toString('latin1');
      let n = 0;
      let p = text.indexOf('\r\n\r\n');
      let last = 0;
      while (p !== -1) { n++; last = p + 4; p = text.indexOf('\r\n\r\n', last); }
      tail = text.slice(last);
      const response = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nDate: ${new Date().toUTCString()}\r\n\r\nhello world\n`;
      if (n > 0) socket.write(response.repeat(n));
    });
    socket.on('error', () => socket.destroy());
  });
  server.listen(0, '127.0.0.1', () => ready((server.address() as { port: number }).port));
} else {
  throw new Error(`unknown server kind ${String(kind)}`);
}
