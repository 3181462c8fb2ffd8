import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../harness/index.js';
import type { NodeRegistration } from '../../../src/core/keys.js';
import type { Region } from '../../../src/core/model/index.js';
import { createLogger } from '../../../src/core/logger.js';
import type { NodeDirectory, RegionNodes } from '../../../controller/regions/nodes.js';
import { TRAFFIC_DEFAULTS, TrafficScraper } from '../../../controller/traffic/scraper.js';

// The scraper against real HTTP listeners standing in for gateway admin ports: one answers its
// metrics, one never answers, one answers more than the body limit. The node list is given
// directly (the directory's etcd reading is covered by the controller tests).
let count = 0;
const servers: Server[] = [];
const listen = async (handler: Parameters<typeof createServer>[1]): Promise<string> => {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
};
let good = '';
let hanging = '';
let huge = '';

beforeAll(async () => {
  good = await listen((_req, res) => {
    count += 10;
    res.end(`meridian_http_requests_total{route="shop",upstream="u1",code="200"} ${count}\n`);
  });
  hanging = await listen(() => undefined);
  huge = await listen((_req, res) => res.end('x'.repeat(64 * 1024)));
});
afterAll(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

const node = (name: string, admin: string): NodeRegistration => ({ region: 'east', cluster: 'c1', name, admin } as NodeRegistration);

function scraper(idleMs: number): TrafficScraper {
  const regions = [{ name: 'east' } as Region];
  const directory = { nodes: async (): Promise<RegionNodes> => ({ region: 'east', fresh: true, nodes: [node('good', good), node('hanging', hanging), node('huge', huge)] }) } as unknown as NodeDirectory;
  return new TrafficScraper({ regions: () => regions, directory, log: createLogger('traffic-test', { level: 'silent' }) }, {
    ...TRAFFIC_DEFAULTS, intervalMs: 100, nodeTimeoutMs: 200, idleMs, maxBodyBytes: 16 * 1024,
  });
}

describe('TrafficScraper', () => {
  it('scrapes only once asked, names nodes that time out or answer too much, and stops when nobody asks', async () => {
    const s = scraper(600);
    await s.start();
    try {
      expect(s.active).toBe(false);
      const before = count;
      await new Promise((r) => setTimeout(r, 300));
      // Not asked: nothing scraped.
      expect(count).toBe(before);
      expect(s.report()).toMatchObject({ scraping: true, ready: false, times: [] });
      const r = await eventually(() => {
        const x = s.report();
        return x.ready ? x : undefined;
      }, 10_000, 50);
      expect(r.routes.find((x) => x.name === 'shop')?.current.rps).toBeGreaterThan(0);
      expect(r.nodes.scraped).toBe(1);
      expect(r.nodes.failed.map((f) => f.node)).toEqual(['east/c1/hanging', 'east/c1/huge']);
      expect(r.nodes.failed[1]?.error).toMatch(/larger than 16384 bytes/);
      // Nobody asks any more: it stops and drops its samples.
      await eventually(() => !s.active, 5_000, 50);
      const stoppedAt = count;
      await new Promise((r2) => setTimeout(r2, 300));
      expect(count).toBe(stoppedAt);
    } finally {
      await s.stop();
    }
  });

  it('stop() ends a running scraper; a report after stop starts nothing', async () => {
    const s = scraper(60_000);
    await s.start();
    s.report();
    await eventually(() => s.report().times.length > 0, 5_000, 50);
    await s.stop();
    expect(s.active).toBe(false);
    expect(s.report().scraping).toBe(false);
    const at = count;
    await new Promise((r) => setTimeout(r, 300));
    expect(count).toBe(at);
  });
});
