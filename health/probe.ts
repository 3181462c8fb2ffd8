/**
 * The two probes of a gateway node: HTTP GET of its admin /healthz (the gateway answers 503
 * while draining, so a node leaves DNS before it stops) and a TCP connect to its public port
 * (the admin listener alone can be up while the data plane is not). A fresh connection each
 * time: a pooled keep-alive connection would hide a dead or restarted process.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';

export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  detail: string;
}

export function probeHttp(url: string, timeoutMs: number, localAddress?: string): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ok, latencyMs: performance.now() - started, detail });
    };
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      resolve({ ok: false, latencyMs: 0, detail: 'bad URL' });
      return;
    }
    const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(target, { method: 'GET', agent: false, headers: { 'user-agent': 'meridian-prober', connection: 'close' }, ...(localAddress ? { localAddress } : {}), ...(target.protocol === 'https:' ? { rejectUnauthorized: false } : {}) }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      done(code >= 200 && code < 300, `HTTP ${code}`);
      res.on('error', () => undefined);
    });
    const timer = setTimeout(() => {
      done(false, 'timeout');
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => done(false, (err as NodeJS.ErrnoException).code ?? err.message));
    req.end();
  });
}

export function probeTcp(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    let settled = false;
    const done = (ok: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, latencyMs: performance.now() - started, detail });
    };
    const timer = setTimeout(() => done(false, 'timeout'), timeoutMs);
    socket.once('connect', () => done(true, 'connected'));
    socket.once('error', (err) => done(false, (err as NodeJS.ErrnoException).code ?? err.message));
  });
}
