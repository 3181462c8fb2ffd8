import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

function tcpFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function udpFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    sock.once('error', () => resolve(false));
    sock.bind({ address: host, port, exclusive: true }, () => sock.close(() => resolve(true)));
  });
}

const taken = new Set<string>();

/**
 * A loopback address of its own for one server (127.100-249.x.y), so every server keeps its
 * default ports and parallel suites never collide. Checked free on the given ports.
 */
export async function allocateLoopback(tcpPorts: number[], udpPorts: number[] = []): Promise<string> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const host = `127.${100 + Math.floor(Math.random() * 150)}.${Math.floor(Math.random() * 256)}.${1 + Math.floor(Math.random() * 254)}`;
    if (taken.has(host)) continue;
    const checks = await Promise.all([...tcpPorts.map((p) => tcpFree(host, p)), ...udpPorts.map((p) => udpFree(host, p))]);
    if (checks.every(Boolean)) {
      taken.add(host);
      return host;
    }
  }
  throw new Error('no free loopback address found');
}

/** A free TCP port on `host` (chosen by the kernel). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host, port: 0 }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
