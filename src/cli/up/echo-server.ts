import { createServer, type Server } from 'node:http';

/**
 * The demo upstream: answers every request with who it is and what it got, and /health for
 * Consul's check. Used by `meridian up`, the chaos scenarios and tests.
 */
export function startEchoServer(options: { host: string; port: number; name: string; region?: string }): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({
        instance: options.name,
        region: options.region ?? null,
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'application/json', 'x-instance': options.name }).end(body);
    });
  });
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve(server));
  });
}

// `node echo-server.js HOST PORT NAME [REGION]`: run as its own process by `meridian up`.
if (/echo-server\.(js|ts)$/.test(process.argv[1] ?? '')) {
  const [host, port, name, region] = process.argv.slice(2);
  if (!host || !port || !name) {
    process.stderr.write('usage: echo-server HOST PORT NAME [REGION]\n');
    process.exit(2);
  }
  startEchoServer({ host, port: Number(port), name, ...(region ? { region } : {}) }).then(
    (server) => {
      const stop = () => server.close(() => process.exit(0));
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    },
    (err: Error) => {
      process.stderr.write(`echo-server: ${err.message}\n`);
      process.exit(1);
    },
  );
}
