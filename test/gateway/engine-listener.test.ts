import { createServer, type IncomingHttpHeaders } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EngineOutgoing, nodeHeaders } from '../../src/gateway/engine-adapter.js';
import type { EngineResponse } from '../../src/http/index.js';
import { startGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';

/** Writes raw bytes on a fresh connection and collects everything until the gateway closes or `done` says so. */
function exchange(port: number, parts: string[], done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port }, () => {
      let out = '';
      let next = 1;
      sock.write(parts[0] as string);
      sock.on('data', (d: Buffer) => {
        out += d.toString('latin1');
        // The next part (a body) goes once the gateway answered what came before (100 Continue).
        if (next < parts.length && out.includes('\r\n\r\n')) sock.write(parts[next++] as string);
        if (done(out)) {
          sock.destroy();
          resolve(out);
        }
      });
      sock.on('close', () => resolve(out));
      sock.on('error', reject);
    });
  });
}

describe('public HTTP/1.1 listener on the src/http engine', () => {
  let up: Upstream;
  let gw: TestGateway;
  beforeAll(async () => {
    up = await startUpstream();
    gw = await startGateway({ routes: [{ id: 'r', paths: ['/*'], upstream: { nodes: [{ host: '127.0.0.1', port: up.port }] } }] });
  });
  afterAll(async () => {
    await gw.stop();
    await up.close();
  });

  it('answers Expect: 100-continue with 100 Continue, then proxies the body', async () => {
    const text = await exchange(
      gw.port,
      ['POST /echo HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n', 'hello'],
      () => false,
    );
    expect(text.startsWith('HTTP/1.1 100 Continue\r\n\r\n')).toBe(true);
    const final = text.slice(text.indexOf('HTTP/1.1 200'));
    expect(final).toContain('"method":"POST"');
    expect(final).toContain('"body":"hello"');
  });

  it('refuses CONNECT with a coded 501 and closes: the gateway is no forward proxy', async () => {
    const text = await exchange(gw.port, ['CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n'], () => false);
    expect(text).toMatch(/^HTTP\/1\.1 501 /);
    expect(text).toContain('MERIDIAN_ERR_HTTP_CONNECT_UNSUPPORTED');
    expect(up.hits).toBe(1); // only the 100-continue test's request reached the upstream
  });

  it('refuses an Upgrade request with a body (400), as on the upgrade path, without reaching the upstream', async () => {
    const before = up.hits;
    const text = await exchange(gw.port, ['POST /ws HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 3\r\n\r\nabc'], () => false);
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toContain('upgrade request with a body');
    expect(up.hits).toBe(before);
  });

  it('answers a refusal of the engine with the gateway code and closes', async () => {
    const text = await exchange(gw.port, ['GET /x HTTP/1.1\r\nHost: gw.test\r\nX-Bad : 1\r\n\r\n'], () => false);
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_BAD_REQUEST', message: 'bad request: whitespace between a header name and the colon' });
  });
});

describe('nodeHeaders (req.headers of the engine facade)', () => {
  it('builds the object node:http builds from the same raw headers', async () => {
    const raw = [
      'Host', 'a.test', 'host', 'b.test', 'Cookie', 'a=1', 'cookie', 'b=2', 'Set-Cookie', 'x=1', 'set-cookie', 'y=2',
      'Accept', 'text/html', 'ACCEPT', 'application/json', 'Authorization', 'Bearer 1', 'authorization', 'Bearer 2',
      'X-Forwarded-For', '10.0.0.1', 'x-forwarded-for', '10.0.0.2', 'User-Agent', 'one', 'user-agent', 'two', 'X-Empty', '',
    ];
    // node:http's own answer: the same raw headers sent to a node:http server (loose on repeated Host).
    const seen = await new Promise<{ headers: IncomingHttpHeaders; rawHeaders: string[] }>((resolve, reject) => {
      const server = createServer({ requireHostHeader: false }, (req, res) => {
        resolve({ headers: req.headers, rawHeaders: req.rawHeaders });
        res.end();
        server.close();
      });
      server.listen(0, '127.0.0.1', () => {
        const sock = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port }, () => {
          let head = 'GET / HTTP/1.1\r\n';
          for (let i = 0; i < raw.length; i += 2) head += `${raw[i] as string}: ${raw[i + 1] as string}\r\n`;
          sock.end(`${head}\r\n`);
        });
        sock.on('error', reject);
        sock.resume();
      });
    });
    expect(seen.rawHeaders).toEqual(raw);
    expect(nodeHeaders(raw)).toEqual(seen.headers);
  });
});

describe('EngineOutgoing (res of the engine facade)', () => {
  it("emits 'close' after end(), asynchronously as node:http does, also to a listener added after end()", async () => {
    const engine = { finished: false, aborted: false, headersSent: false, statusCode: 200, end() { this.finished = true; }, onClose() {}, onDrain() {}, writeHead() {}, write: () => true, destroy() {} };
    const res = new EngineOutgoing(engine as unknown as EngineResponse);
    const seen: string[] = [];
    res.once('finish', () => seen.push('finish'));
    res.once('close', () => seen.push('close'));
    res.end();
    res.once('close', () => seen.push('late close'));
    expect(seen).toEqual(['finish']);
    await vi.waitFor(() => expect(seen).toEqual(['finish', 'close', 'late close']));
  });
});
