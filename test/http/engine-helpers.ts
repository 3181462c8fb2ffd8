import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { createHttpEngine, type HttpEngine, type HttpEngineOptions } from '../../src/http/index.js';

export interface Running {
  engine: HttpEngine;
  server: Server;
  port: number;
  close(): Promise<void>;
}

/**
 * An engine on a loopback net.Server (port chosen by the kernel), created as the gateway's
 * listeners are (`pauseOnConnect`: connections read into the engine's shared buffer) unless
 * `sharedReads` is false (the stream path of any other server).
 */
export async function startEngine(opts: HttpEngineOptions, { sharedReads = true } = {}): Promise<Running> {
  // Sockets handed over on an upgrade are no longer the engine's: closed here at the end.
  const sockets = new Set<Socket>();
  const onUpgrade = opts.onUpgrade;
  const engine = createHttpEngine(onUpgrade ? {
    ...opts,
    onUpgrade(req, s, head) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      onUpgrade(req, s, head);
    },
  } : opts);
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: sharedReads });
  engine.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    engine, server, port,
    async close() {
      engine.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface RawClient {
  socket: Socket;
  /** Everything received so far, latin1. */
  text(): string;
  closed(): boolean;
  send(data: string | Buffer): void;
}

export async function rawClient(port: number): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let isClosed = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('close', () => { isClosed = true; });
  socket.on('error', () => { /* close follows */ });
  return {
    socket,
    text: () => Buffer.concat(chunks).toString('latin1'),
    closed: () => isClosed,
    send: (data) => { socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data); },
  };
}

/** Sends `data` on a new connection and returns all that comes back once the server closes it. */
export async function exchangeUntilClose(port: number, data: string | Buffer): Promise<string> {
  const client = await rawClient(port);
  client.send(data);
  await once(client.socket, 'close');
  return client.text();
}

/** Splits a stream of responses (Content-Length or chunked framed) into status, headers and body. */
export interface RawResponse { status: number; headers: Record<string, string>; body: string }

export function parseResponses(text: string, bodiless: (index: number) => boolean = () => false): RawResponse[] {
  const out: RawResponse[] = [];
  let p = 0;
  while (p < text.length) {
    const end = text.indexOf('\r\n\r\n', p);
    if (end === -1) break;
    const lines = text.slice(p, end).split('\r\n');
    const status = Number((lines[0] as string).split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    p = end + 4;
    let body = '';
    if (status >= 100 && status < 200) { out.push({ status, headers, body }); continue; }
    if (!bodiless(out.length)) {
      if (headers['content-length'] !== undefined) {
        const n = Number(headers['content-length']);
        body = text.slice(p, p + n);
        p += n;
      } else if (headers['transfer-encoding'] === 'chunked') {
        for (;;) {
          const lineEnd = text.indexOf('\r\n', p);
          const size = parseInt(text.slice(p, lineEnd), 16);
          p = lineEnd + 2;
          if (size === 0) { p += 2; break; }
          body += text.slice(p, p + size);
          p += size + 2;
        }
      } else {
        body = text.slice(p);
        p = text.length;
      }
    }
    out.push({ status, headers, body });
  }
  return out;
}
