/** HTTP/1.1 over TLS through the engine: attach() to a tls.Server serves its secure connections. */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createHttpEngine } from '../../src/http/index.js';

function selfSigned(cn: string): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-http-tls-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

describe('TLS', () => {
  it('serves HTTP/1.1 over a tls.Server, two requests on one kept-alive connection', async () => {
    const engine = createHttpEngine({
      onRequest(req, res) { res.writeHead(200, ['X-Tls', String('encrypted' in req.socket)]).end(`hello ${req.url}`); },
    });
    const server = createServer({ ...selfSigned('localhost'), allowHalfOpen: true });
    engine.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const agent = new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    const get = (path: string): Promise<{ body: string; tls: string | undefined; socket: unknown }> => new Promise((resolve, reject) => {
      request({ host: '127.0.0.1', port, path, agent, servername: 'localhost' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { body += c; });
        res.on('end', () => resolve({ body, tls: res.headers['x-tls'] as string | undefined, socket: res.socket }));
      }).on('error', reject).end();
    });
    try {
      const a = await get('/a');
      const b = await get('/b');
      expect([a.body, b.body]).toEqual(['hello /a', 'hello /b']);
      expect(a.tls).toBe('true');
      expect(b.socket).toBe(a.socket);
    } finally {
      agent.destroy();
      engine.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
