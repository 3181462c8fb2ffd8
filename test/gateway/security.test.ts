import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { eventually, freePort } from '../harness/index.js';
import { spawnMeridian, stopMeridian } from '../harness/cli.js';
import { send, wsRefusal } from './helpers.js';

/**
 * Issue 16's gateway defects, each reproduced as the attack against `meridian gateway` (one
 * worker, file config) with real node:http upstreams on loopback. Every test here failed on
 * the code before the fix (see each describe).
 */

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bytes: number;
}

/** A plain HTTP upstream without WebSocket support (node:http answers an Upgrade like any request), recording what reaches it. */
async function recordingUpstream(): Promise<{ port: number; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes });
      const body = JSON.stringify({ url: req.url, host: req.headers.host, bytes, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  return { port: (server.address() as AddressInfo).port, seen, server };
}

/** A WebSocket upstream: greets with its port, echoes, records the upgrade requests; plain GETs answer {port}. */
async function wsUpstream(): Promise<{ port: number; upgrades: IncomingMessage[]; server: Server; wss: WebSocketServer }> {
  const upgrades: IncomingMessage[] = [];
  const server = createServer((_req, res) => res.end(JSON.stringify({ port: (server.address() as AddressInfo).port })));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (sock, req) => {
    upgrades.push(req);
    sock.send(`hello from ${(server.address() as AddressInfo).port}`);
    sock.on('message', (m) => sock.send(`echo:${m.toString()}`));
  });
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  return { port: (server.address() as AddressInfo).port, upgrades, server, wss };
}

/** An upstream that answers upgrades wrongly: a head over the gateway's cap, or a protocol nobody asked for. */
async function oddUpstream(): Promise<{ port: number; server: Server }> {
  const server = createServer((_req, res) => res.end('plain'));
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    if (req.url === '/odd/big') socket.end(`HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    else socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n');
  });
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  return { port: (server.address() as AddressInfo).port, server };
}

/** A raw TCP upstream: every byte it receives, kept; its first request answered 200 (no Upgrade support). */
async function rawUpstream(): Promise<{ port: number; received: () => string; server: NetServer }> {
  let all = '';
  const server = createNetServer((sock) => {
    let answered = false;
    sock.on('data', (d: Buffer) => {
      all += d.toString('latin1');
      if (!answered && all.includes('\r\n\r\n')) {
        answered = true;
        sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  return { port: (server.address() as AddressInfo).port, received: () => all, server };
}

/** A raw TCP client: what the gateway sends back, as text, and whether it closed. */
class RawClient {
  text = '';
  closed = false;
  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => (this.text += d.toString('latin1')));
    socket.on('error', () => undefined); // a reset is an answer too: `closed` says it
    socket.on('close', () => (this.closed = true));
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  write(text: string): void {
    if (this.socket.writable) this.socket.write(text);
  }

  async until(what: string, pred: (c: RawClient) => boolean): Promise<void> {
    await vi.waitFor(() => {
      if (!pred(this)) throw new Error(`waiting for ${what}; got ${JSON.stringify(this.text.slice(0, 300))}`);
    }, { timeout: 15_000, interval: 20 });
  }

  /** Status codes of the answers received so far, in order. */
  statuses(): number[] {
    return [...this.text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
  }

  /** The first answer's head and body (the gateway's own answers carry Content-Length). */
  first(): { status: number; headers: string; body: string } {
    const end = this.text.indexOf('\r\n\r\n');
    const headers = this.text.slice(0, end).toLowerCase();
    const length = Number(/content-length: (\d+)/.exec(headers)?.[1] ?? 0);
    return { status: this.statuses()[0] ?? 0, headers, body: this.text.slice(end + 4, end + 4 + length) };
  }
}

async function rawExchange(port: number, text: string): Promise<RawClient> {
  const c = await RawClient.open(port);
  c.write(text);
  await c.until('the gateway to close', (x) => x.closed);
  return c;
}

const UPGRADE = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
const SMUGGLED = 'GET /admin/secret HTTP/1.1\r\nHost: gw.test\r\nX-Consumer-Username: alice\r\n\r\nGET /public/../../etc/passwd HTTP/1.1\r\nHost: gw.test\r\n\r\n';
const ADMIN_TOKEN = 'purge-token-for-tests';

/** A WebSocket through the gateway: the upstream's greeting, then the echo of `ping`. */
function wsRoundTrip(url: string, headers: Record<string, string> = {}): Promise<{ greeting: string; echo: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const got: string[] = [];
    ws.on('message', (m) => {
      got.push(m.toString());
      if (got.length === 1) ws.send('ping');
      else {
        ws.close();
        resolve({ greeting: got[0] as string, echo: got[1] as string });
      }
    });
    ws.on('unexpected-response', (_req, res) => reject(new Error(`unexpected ${res.statusCode}`)));
    ws.on('error', reject);
  });
}

const dir = mkdtempSync(join(tmpdir(), 'meridian-security-'));
let gw: ReturnType<typeof spawnMeridian> | undefined;
let port = 0;
let adminUrl = '';
let rec: Awaited<ReturnType<typeof recordingUpstream>>;
let wsA: Awaited<ReturnType<typeof wsUpstream>>;
let wsB: Awaited<ReturnType<typeof wsUpstream>>;
let odd: Awaited<ReturnType<typeof oddUpstream>>;
let raw: Awaited<ReturnType<typeof rawUpstream>>;
let url = '';
let tlsPort = 0;

beforeAll(async () => {
  rec = await recordingUpstream();
  wsA = await wsUpstream();
  wsB = await wsUpstream();
  odd = await oddUpstream();
  raw = await rawUpstream();
  port = await freePort();
  tlsPort = await freePort();
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=victim.test'], { stdio: 'ignore' });
  const adminPort = await freePort();
  url = `http://127.0.0.1:${port}`;
  adminUrl = `http://127.0.0.1:${adminPort}`;
  const node = (p: number) => ({ host: '127.0.0.1', port: p });
  writeFileSync(join(dir, 'routes.yaml'), JSON.stringify({
    revision: 1,
    consumers: [{ username: 'alice', plugins: { 'key-auth': { key: 'alice-key-123456' } } }],
    upstreams: [
      { id: 'rec', nodes: [node(rec.port)] },
      { id: 'wsa', nodes: [node(wsA.port)] },
      { id: 'wsb', nodes: [node(wsB.port)] },
      { id: 'sticky', type: 'chash', hash_on: { type: 'header', key: 'x-user' }, nodes: [node(wsA.port), node(wsB.port)] },
      { id: 'odd', nodes: [node(odd.port)] },
      { id: 'raw', nodes: [node(raw.port)] },
    ],
    routes: [
      { id: 'public', paths: ['/public/*'], upstream_id: 'rec' },
      { id: 'admin', paths: ['/admin/*'], upstream_id: 'rec', plugins: { 'key-auth': {} } },
      { id: 'cached', paths: ['/cached'], upstream_id: 'rec', plugins: { 'proxy-cache': { policy: 'local' } } },
      { id: 'upload', paths: ['/upload'], upstream_id: 'rec' },
      { id: 'ws', paths: ['/ws/*'], upstream_id: 'wsa' },
      { id: 'split', paths: ['/split/*'], upstream_id: 'wsa', split: { upstream_id: 'wsb', match: [{ source: 'header', name: 'x-canary', value: '1' }] } },
      { id: 'sticky', paths: ['/sticky/*'], upstream_id: 'sticky' },
      { id: 'odd', paths: ['/odd/*'], upstream_id: 'odd' },
      { id: 'raw', paths: ['/raw/*'], upstream_id: 'raw' },
    ],
    ssl: [{ id: 'victim', snis: ['victim.test'], cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8'), default_for_ports: [tlsPort] }],
  }));
  writeFileSync(join(dir, 'gateway.yaml'), JSON.stringify({
    node: { name: 'gw-security', region: 'r1' },
    listen: { http: `127.0.0.1:${port}`, https: `127.0.0.1:${tlsPort}` },
    admin: { listen: `127.0.0.1:${adminPort}`, token_hash: createHash('sha256').update(ADMIN_TOKEN).digest('hex') },
    workers: 1,
    config: { source: 'file', file: join(dir, 'routes.yaml'), snapshot_file: join(dir, 'snap.json') },
    drain: { grace_ms: 0, timeout_ms: 1_000 },
  }));
  gw = spawnMeridian(['gateway', '-c', join(dir, 'gateway.yaml')], { MERIDIAN_LOG_LEVEL: 'warn' });
  await eventually(async () => (await send(`${url}/public/ready`).catch(() => ({ status: 0 }))).status === 200, 60_000, 200);
}, 90_000);

afterAll(async () => {
  await stopMeridian(gw);
  for (const s of [rec.server, wsA.server, wsB.server, odd.server]) {
    s.closeAllConnections();
    s.close();
  }
  raw.server.close();
  for (const w of [wsA.wss, wsB.wss]) for (const c of w.clients) c.terminate();
  rmSync(dir, { recursive: true, force: true });
});

/** Nothing the smuggled requests carried reached the upstream. */
function expectNothingSmuggled(): void {
  expect(rec.seen.map((s) => s.url)).toContain('/public/chat'); // the upgrade itself did reach it
  expect(rec.seen.filter((s) => s.url.startsWith('/admin'))).toEqual([]);
  expect(rec.seen.filter((s) => s.headers['x-consumer-username'] !== undefined)).toEqual([]);
  expect(rec.seen.filter((s) => s.url.includes('..') || s.url.includes('passwd'))).toEqual([]);
}

// Old code: the upgrade was piped raw as soon as the upstream connection opened, so both
// requests below reached the upstream with no key, the client's identity header and `..`.
describe('defect 1: upgrade tunnel bypasses every plugin (critical)', () => {
  it('an upstream answering 200 to an upgrade: the answer is relayed, the connection closed; a request sent next reaches nothing', async () => {
    rec.seen.length = 0;
    const c = await RawClient.open(port);
    c.write(UPGRADE('/public/chat'));
    await c.until('the answer to the upgrade', (x) => x.text.includes('\r\n\r\n'));
    const first = c.first();
    expect(first.status).toBe(200);
    expect(first.headers).toContain('connection: close');
    expect(JSON.parse(first.body)).toMatchObject({ url: '/public/chat' });
    c.write(SMUGGLED);
    await c.until('close, or answers to the requests sent next', (x) => x.closed || x.statuses().length >= 3);
    // Had they been answered, only the gateway's 401 would do.
    for (const s of c.statuses().slice(1)) expect(s).toBe(401);
    expectNothingSmuggled();
  });

  it('requests pipelined behind the upgrade in the same packet: not one byte of them reaches the upstream', async () => {
    const c = await RawClient.open(port);
    c.write(UPGRADE('/raw/chat') + SMUGGLED);
    await c.until('close, or the pipelined bytes reaching the upstream', (x) => x.closed || raw.received().includes('/admin/secret'));
    expect(c.statuses()[0]).toBe(200);
    expect(raw.received()).toContain('GET /raw/chat HTTP/1.1');
    expect(raw.received()).not.toContain('/admin/secret');
    expect(raw.received()).not.toContain('passwd');
    expect(raw.received().toLowerCase()).not.toContain('x-consumer-username');
  });

  it('a real WebSocket still works through the gateway: 101, messages both ways', async () => {
    expect(await wsRoundTrip(`ws://127.0.0.1:${port}/ws/chat`)).toEqual({ greeting: `hello from ${wsA.port}`, echo: 'echo:ping' });
  });

  it('an upstream answer head over max_header_bytes is a 502, not a tunnel', async () => {
    const r = await wsRefusal(`ws://127.0.0.1:${port}/odd/big`);
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR', message: expect.stringContaining('answer head over 16384 bytes') });
  });

  it('a 101 to a protocol the client did not ask for is a 502', async () => {
    const r = await wsRefusal(`ws://127.0.0.1:${port}/odd/h2c`);
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR' });
  });

  // Old code: upgrades always went to route.upstream and hashed on the path.
  it('a WebSocket follows the route split: the canary header reaches the split upstream', async () => {
    expect((await wsRoundTrip(`ws://127.0.0.1:${port}/split/chat`, { 'x-canary': '1' })).greeting).toBe(`hello from ${wsB.port}`);
    expect((await wsRoundTrip(`ws://127.0.0.1:${port}/split/chat`)).greeting).toBe(`hello from ${wsA.port}`);
  });

  it('a WebSocket hashes on hash_on header like a plain request: same user, same node', async () => {
    const users = Array.from({ length: 16 }, (_, i) => `user-${i}`); // node ports change per run: 16 keys all on one node is a 2^-15 chance
    const plain: number[] = [];
    const socket: number[] = [];
    for (const u of users) {
      plain.push((await send(`${url}/sticky/p`, { headers: { 'x-user': u } })).json<{ port: number }>().port);
      socket.push(Number((await wsRoundTrip(`ws://127.0.0.1:${port}/sticky/p`, { 'x-user': u })).greeting.replace('hello from ', '')));
    }
    expect(new Set(plain).size).toBe(2); // the keys do spread over both nodes
    expect(socket).toEqual(plain);
  });
});

// Old code: the request was proxied on the last Host while proxy-cache keyed on the first,
// and two Content-Lengths were refused with a message naming Transfer-Encoding.
describe('defect 2: two Host headers poison proxy-cache (high)', () => {
  it('refuses two Hosts with a coded 400 and closes; the cache keeps serving the victim its own content', async () => {
    for (let i = 0; i < 4; i++) {
      const c = await rawExchange(port, 'GET /cached HTTP/1.1\r\nHost: victim.test\r\nHost: evil.test\r\n\r\n');
      const a = c.first();
      expect(a.status).toBe(400);
      expect(a.headers).toContain('connection: close');
      expect(JSON.parse(a.body)).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_BAD_REQUEST', message: 'bad request: duplicate Host header' });
    }
    expect(rec.seen.filter((s) => s.headers.host === 'evil.test')).toEqual([]);
    const r = await send(`${url}/cached`, { headers: { host: 'victim.test' } });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ host: 'victim.test' });
    expect(r.headers['x-cache-status']).toBe('MISS');
  });

  it('on HTTP/2, refuses a Host that differs from :authority', async () => {
    const session = http2Connect(`https://127.0.0.1:${tlsPort}`, { rejectUnauthorized: false });
    try {
      const answer = (headers: Record<string, string>) => new Promise<{ status: number; body: string }>((resolve, reject) => {
        const r = session.request({ ':path': '/cached', ':authority': 'victim.test', ...headers });
        let status = 0;
        let body = '';
        r.on('response', (h) => (status = Number(h[':status'])));
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status, body }));
        r.on('error', reject);
        r.end();
      });
      const evil = await answer({ host: 'evil.test' });
      expect(evil.status).toBe(400);
      expect(JSON.parse(evil.body)).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_BAD_REQUEST', message: 'bad request: Host differs from :authority' });
      // Plugins read the same Host as routing: proxy-cache keys this on victim.test.
      const same = await answer({ host: 'victim.test' });
      expect(same.status).toBe(200);
      expect(JSON.parse(same.body)).toMatchObject({ host: 'victim.test' });
    } finally {
      session.close();
    }
  });

  it('refuses two Content-Lengths with a reason that says so', async () => {
    for (const lengths of ['3\r\nContent-Length: 4', '4\r\nContent-Length: 4']) {
      const c = await rawExchange(port, `POST /public/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: ${lengths}\r\n\r\nabcd`);
      expect(c.first().status).toBe(400);
      expect(JSON.parse(c.first().body)).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_BAD_REQUEST', message: 'bad request: duplicate Content-Length' });
    }
  });
});

// Old code: Node's own plain-text 400 with no body.
describe('defect 3: HTTP/1.1 without Host', () => {
  it('answers the coded JSON 400', async () => {
    const c = await rawExchange(port, 'GET /public/x HTTP/1.1\r\n\r\n');
    expect(c.first().status).toBe(400);
    expect(JSON.parse(c.first().body)).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_BAD_REQUEST', message: 'bad request: missing Host header' });
  });

  it('still serves HTTP/1.0 without Host', async () => {
    rec.seen.length = 0;
    const c = await rawExchange(port, 'GET /public/old HTTP/1.0\r\n\r\n');
    expect(c.first().status).toBe(200);
    expect(rec.seen.map((s) => s.url)).toEqual(['/public/old']);
  });
});

// Old code: undici refused the forwarded `expect` header, 502 UND_ERR_NOT_SUPPORTED.
describe('defect 4: Expect: 100-continue answered 502', () => {
  it('a 2 MB upload with Expect: 100-continue gets 100, then the upstream answer; every byte arrives, Expect does not', async () => {
    const size = 2 * 1024 * 1024;
    const { status, body, continued } = await new Promise<{ status: number; body: string; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = httpRequest({ host: '127.0.0.1', port, path: '/upload', method: 'PUT', agent: false, headers: { host: 'gw.test', expect: '100-continue', 'content-length': size } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, continued }));
      });
      req.on('continue', () => {
        continued = true;
        req.end(Buffer.alloc(size, 0x61));
      });
      req.on('error', reject);
    });
    expect(continued).toBe(true);
    expect(status).toBe(200);
    const seen = JSON.parse(body) as { bytes: number; headers: IncomingHttpHeaders };
    expect(seen.bytes).toBe(size);
    expect(seen.headers.expect).toBeUndefined();
  });

  it('an upgrade carrying Expect does not pass it upstream', async () => {
    wsA.upgrades.length = 0;
    await wsRoundTrip(`ws://127.0.0.1:${port}/ws/expect`, { expect: '100-continue' });
    expect(wsA.upgrades.map((r) => r.headers.expect)).toEqual([undefined]);
  });
});

// Old code: the client's header was forwarded as it came on routes without auth.
describe('defect 5: client-set identity headers reach the upstream (medium)', () => {
  it('drops a client X-Consumer-Username on a route without auth', async () => {
    rec.seen.length = 0;
    const r = await send(`${url}/public/me`, { headers: { 'x-consumer-username': 'alice', 'X-CONSUMER-USERNAME': 'bob' } });
    expect(r.status).toBe(200);
    expect(rec.seen).toHaveLength(1);
    expect(rec.seen[0]?.headers['x-consumer-username']).toBeUndefined();
  });

  it('drops it on an upgrade', async () => {
    wsA.upgrades.length = 0;
    await wsRoundTrip(`ws://127.0.0.1:${port}/ws/me`, { 'x-consumer-username': 'alice' });
    expect(wsA.upgrades.map((r) => r.headers['x-consumer-username'])).toEqual([undefined]);
  });

  it('an authenticated request carries the consumer the plugin found, not the client one', async () => {
    rec.seen.length = 0;
    const r = await send(`${url}/admin/me`, { headers: { apikey: 'alice-key-123456', 'x-consumer-username': 'mallory' } });
    expect(r.status).toBe(200);
    expect(rec.seen[0]?.headers['x-consumer-username']).toBe('alice');
  });
});

// Old code: 500 "Maximum call stack size exceeded", and a reset instead of 413.
describe('defect 6: gateway admin purge endpoint robustness', () => {
  const purge = (body: string) => send(`${adminUrl}/admin/discovery/purge`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body });

  it('refuses JSON nested deeper than 64 with a coded 400', async () => {
    // Well-formed, under the body limit: JSON.parse takes it, the schema check then overflowed the stack.
    const r = await purge(`{"service":${'['.repeat(10_000)}${']'.repeat(10_000)}}`);
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_BAD_REQUEST', message: expect.stringContaining('nested deeper than 64') });
  });

  it('answers an oversized body with a coded 413 and closes', async () => {
    const r = await purge(JSON.stringify({ service: 'a'.repeat(200_000) }));
    expect(r.status).toBe(413);
    expect(r.headers.connection).toBe('close');
    expect(r.json()).toMatchObject({ code: 'MERIDIAN_ERR_GATEWAY_BODY_TOO_LARGE' });
  });
});
