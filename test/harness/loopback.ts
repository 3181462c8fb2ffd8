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

/*
 * Ports for servers come from below the kernel's ephemeral range (32768-60999 by default):
 * a port the kernel handed out for a probe can be taken a moment later as the source port of
 * any outgoing connection on the machine, and the server's listen then fails with EADDRINUSE.
 * Each vitest worker starts at its own slice of 20000-32767, so parallel suites rarely meet.
 */
const PORT_LOW = 20_000;
const PORT_SPAN = 12_768;
const SLICES = 8;
const poolId = Number(process.env.VITEST_POOL_ID ?? process.pid) % SLICES;
let nextOffset = Math.floor(Math.random() * (PORT_SPAN / SLICES));

/** A free TCP port on `host`, outside the ephemeral range, checked by binding it. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = PORT_LOW + ((poolId * (PORT_SPAN / SLICES) + nextOffset++) % PORT_SPAN);
    if (await tcpFree(host, port)) return port;
  }
  throw new Error(`no free TCP port on ${host} in ${PORT_LOW}-${PORT_LOW + PORT_SPAN - 1}`);
}
