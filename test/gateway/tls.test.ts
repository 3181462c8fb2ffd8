import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { connect as h2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { startGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';
import { freePort } from '../harness/index.js';

const dir = mkdtempSync(join(tmpdir(), 'meridian-tls-'));
function selfSigned(cn: string): { cert: string; key: string } {
  const key = join(dir, `${cn.replace('*', 'star')}.key`);
  const cert = join(dir, `${cn.replace('*', 'star')}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

/** The CN of the certificate the gateway presents for `servername` (none = no SNI). */
function presented(port: number, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}) }, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      s.end();
      resolve(String(cn));
    });
    s.on('error', reject);
  });
}

describe('TLS listener', () => {
  let up: Upstream;
  let gw: TestGateway;
  let p1: number;
  let p2: number;
  const certs = { exact: selfSigned('api.example.com'), wild: selfSigned('*.wild.example.com'), d1: selfSigned('default-one'), d2: selfSigned('default-two'), exact2: selfSigned('api.example.com-v2') };
  const config = (exact = certs.exact) => ({
    routes: [{ id: 'r', paths: ['/*'], upstream: { nodes: [{ host: '127.0.0.1', port: up.port }] } }],
    ssl: [
      { id: 'exact', snis: ['api.example.com'], ...exact },
      { id: 'wild', snis: ['*.wild.example.com'], ...certs.wild },
      { id: 'd1', snis: ['one.internal'], ...certs.d1, default_for_ports: [p1] },
      { id: 'd2', snis: ['two.internal'], ...certs.d2, default_for_ports: [p2] },
    ],
  });

  beforeAll(async () => {
    up = await startUpstream();
    p1 = await freePort();
    p2 = await freePort();
    gw = await startGateway(config(), { listen: { https: [`127.0.0.1:${p1}`, `127.0.0.1:${p2}`] } });
  });
  afterAll(async () => {
    await gw.stop();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('chooses the certificate by SNI, exact then wildcard', async () => {
    expect(await presented(p1, 'api.example.com')).toBe('api.example.com');
    expect(await presented(p1, 'x.wild.example.com')).toBe('*.wild.example.com');
    expect(await presented(p2, 'API.example.com')).toBe('api.example.com');
  });

  it('serves each port its own default certificate to clients without SNI', async () => {
    expect(await presented(p1)).toBe('default-one');
    expect(await presented(p2)).toBe('default-two');
    // an unknown name gets the port default too
    expect(await presented(p2, 'unknown.example.org')).toBe('default-two');
  });

  it('hot-reloads certificates with the config', async () => {
    await gw.apply(config(certs.exact2));
    expect(await presented(p1, 'api.example.com')).toBe('api.example.com-v2');
    await gw.apply(config());
  });

  it('speaks HTTP/2 via ALPN and HTTP/1.1 on the same port', async () => {
    const h2 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const session = h2Connect(`https://127.0.0.1:${p1}`, { rejectUnauthorized: false, servername: 'api.example.com' });
      session.on('error', reject);
      const req = session.request({ ':path': '/over-h2', ':method': 'GET' });
      let status = 0;
      let body = '';
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        session.close();
        resolve({ status, body });
      });
    });
    expect(h2.status).toBe(200);
    const seen = JSON.parse(h2.body) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe('/over-h2');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers.host).toBe(`api.example.com:${p1}`); // :authority becomes the Host

    const h1 = await new Promise<{ status: number; version: string }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: p1, path: '/over-h1', servername: 'api.example.com', rejectUnauthorized: false, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, version: res.httpVersion }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(h1).toEqual({ status: 200, version: '1.1' });
  });
});
