import { request } from 'undici';
import type { NodeRegistration } from '../../src/core/keys.js';
import type { Region } from '../../src/core/model/index.js';
import type { NodeDirectory } from '../regions/nodes.js';

/** Body of POST {admin}/admin/discovery/purge (the gateway contract). */
export interface PurgeRequest {
  service: string;
  datacenter?: string;
  instance?: string;
}

export interface NodeAck {
  region: string;
  cluster: string;
  node: string;
  ok: boolean;
  took_ms: number;
  workers?: number;
  applied?: number;
  error?: string;
}

export interface PurgeResult {
  request: PurgeRequest;
  complete: boolean;
  acked: NodeAck[];
  not_acked: NodeAck[];
  /** Regions whose node list could not be read fresh (their last known nodes were used). */
  stale_regions: string[];
  took_ms: number;
}

interface PurgeAnswer {
  workers?: unknown;
  applied?: unknown;
}

/**
 * Purge on every live gateway node of every region, in parallel, each within the deadline. A
 * node has acked only when it answers 200 with applied == workers: all its worker processes
 * dropped the cached instances, so no request can still be sent to them.
 */
export class PurgeFanout {
  constructor(private readonly directory: NodeDirectory, private readonly token: string) {}

  /** `onAck` hears each node's answer (or failure) as it comes. */
  async purge(regions: Region[], body: PurgeRequest, deadlineMs: number, onAck: (ack: NodeAck) => void = () => undefined): Promise<PurgeResult> {
    const started = performance.now();
    const lists = await Promise.all(regions.map((r) => this.directory.nodes(r)));
    const targets = lists.flatMap((l) => l.nodes);
    const acks = await Promise.all(targets.map(async (n) => {
      const ack = await this.one(n, body, started + deadlineMs);
      onAck(ack);
      return ack;
    }));
    const acked = acks.filter((a) => a.ok);
    const notAcked = acks.filter((a) => !a.ok);
    return {
      request: body,
      complete: notAcked.length === 0,
      acked,
      not_acked: notAcked,
      stale_regions: lists.filter((l) => !l.fresh).map((l) => l.region),
      took_ms: Math.round(performance.now() - started),
    };
  }

  private async one(node: NodeRegistration, body: PurgeRequest, deadline: number): Promise<NodeAck> {
    const t0 = performance.now();
    const base = { region: node.region, cluster: node.cluster, node: node.name };
    const remaining = Math.max(1, Math.round(deadline - t0));
    try {
      const res = await request(new URL('/admin/discovery/purge', node.admin), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(remaining),
        headersTimeout: remaining,
        bodyTimeout: remaining,
      });
      const text = await res.body.text();
      const took = Math.round(performance.now() - t0);
      if (res.statusCode !== 200) return { ...base, ok: false, took_ms: took, error: `HTTP ${res.statusCode}: ${text.slice(0, 200)}` };
      const answer = JSON.parse(text) as PurgeAnswer;
      const workers = Number(answer.workers);
      const applied = Number(answer.applied);
      const ok = Number.isFinite(workers) && applied === workers;
      return { ...base, ok, took_ms: took, workers, applied, ...(ok ? {} : { error: `only ${applied} of ${workers} workers applied the purge` }) };
    } catch (err) {
      const e = err as Error;
      const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError' || /timeout/i.test(e.message);
      return { ...base, ok: false, took_ms: Math.round(performance.now() - t0), error: timedOut ? 'no ack before the deadline' : e.message };
    }
  }
}
