import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeRegistration } from '../../../src/core/keys.js';
import { METRICS_BODY_MAX, fetchNodeMetrics } from '../../../controller/traffic/fetch-metrics.js';
import { scrapeNodeCounts } from '../../../controller/deploy/error-rate.js';

// The one bounded /metrics scrape (traffic window, auto-rollback, deployment live rates)
// against real HTTP listeners standing in for gateway admin ports.
const servers: Server[] = [];
const listen = async (handler: (res: ServerResponse) => void): Promise<string> => {
  const s = createServer((_req, res) => handler(res));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
};

/** Bytes the endless node handed to its socket, and whether the client hung up. */
const endless = { written: 0, closed: false };
const ENDLESS_PAUSE = 8 * METRICS_BODY_MAX;
let endlessUrl = '';
let liarUrl = '';
let goodUrl = '';

beforeAll(async () => {
  const chunk = Buffer.alloc(64 * 1024, 'meridian_http_requests_total{route="r",upstream="u",code="200"} 1\n');
  endlessUrl = await listen((res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.on('close', () => {
      endless.closed = true;
    });
    // As fast as the client reads, never ending: after ENDLESS_PAUSE bytes it stops writing but
    // keeps the answer open (so an unbounded reader fails this test without exhausting memory).
    const pump = (): void => {
      while (!res.destroyed && endless.written < ENDLESS_PAUSE) {
        endless.written += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  // Announces more than the cap: refused before a byte of the body is read.
  liarUrl = await listen((res) => {
    res.writeHead(200, { 'content-length': String(METRICS_BODY_MAX + 1) });
    res.write('x');
  });
  goodUrl = await listen((res) => res.end('meridian_http_requests_total{route="r",upstream="u",code="200"} 7\nmeridian_http_requests_total{route="r",upstream="u",code="502"} 3\n'));
});
afterAll(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

const node = (name: string, admin: string): NodeRegistration => ({ region: 'east', cluster: 'c1', name, admin } as NodeRegistration);

describe('bounded /metrics scrape', () => {
  it('a node answering an endless /metrics is a failed scrape that never holds more than the cap', async () => {
    const baseline = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
    }, 2);
    // A deadline far beyond the time the cap takes on loopback: the cap ends the scrape.
    const counts = await scrapeNodeCounts([node('endless', endlessUrl), node('good', goodUrl)], 'tok', { all: () => true }, 10_000);
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
    expect(counts[0]).toBeUndefined();
    expect(counts[1]).toEqual({ all: { total: 10, errors: 3 } });
    await expect.poll(() => endless.closed).toBe(true);
    // What passed the cap sits at most in the two loopback socket buffers (a few MiB each).
    const slack = 16 * 1024 * 1024;
    console.log(`endless node: ${(endless.written / 2 ** 20).toFixed(1)} MiB written before the hang-up, peak arrayBuffers +${(peak / 2 ** 20).toFixed(1)} MiB (cap ${METRICS_BODY_MAX / 2 ** 20} MiB)`);
    expect(endless.written).toBeLessThan(METRICS_BODY_MAX + slack);
    // Chunks held (the cap) plus those read and dropped that the GC has not reclaimed yet.
    expect(peak).toBeLessThan(2 * METRICS_BODY_MAX + slack);
  });

  it('names the reason: a body over the cap (announced or read), or a non-200 answer', async () => {
    await expect(fetchNodeMetrics(liarUrl, { timeoutMs: 5_000 })).rejects.toThrow(`/metrics larger than ${METRICS_BODY_MAX} bytes`);
    await expect(fetchNodeMetrics(goodUrl, { timeoutMs: 5_000, maxBytes: 10 })).rejects.toThrow('/metrics larger than 10 bytes');
    const notFound = await listen((res) => {
      res.statusCode = 404;
      res.end('no');
    });
    await expect(fetchNodeMetrics(notFound, { timeoutMs: 5_000 })).rejects.toThrow('HTTP 404');
    expect(await fetchNodeMetrics(goodUrl, { timeoutMs: 5_000 })).toContain('code="502"} 3');
  });
});
