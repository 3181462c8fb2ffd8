import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A real upstream: echoes method, url, headers and body as JSON, counts hits; its status set with setStatus(). */
export async function echoUpstream(): Promise<{ url: string; hits: () => number; setStatus: (s: number) => void; close(): Promise<void> }> {
  let hits = 0;
  let status = 200;
  const server = createServer((req, res) => {
    hits++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), n: hits });
      res.writeHead(status, { 'content-type': 'application/json', 'x-upstream': 'echo' });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    setStatus: (s) => {
      status = s;
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
