/**
 * The answer pipeline: every query runs these stages in this order (CoreDNS plugin.cfg habit:
 * the order is declared here, once, and nowhere else).
 *
 * Why this order:
 *  1. parse    first: nothing may read a field of a packet that has not been checked; malformed
 *              input ends here as FORMERR/NOTIMP (or is dropped when it has no usable header).
 *  2. edns     before anything answers: an unknown EDNS version is BADVERS whatever the name.
 *  3. zone     before locating or steering: a name we do not own is REFUSED (we are no open
 *              resolver) and must not cost a CIDR lookup or show up in steering metrics.
 *  4. locate   before answer: the answer depends on the client's region and ISP (ECS or resolver).
 *  5. answer   the authoritative data and steering; it sets the ECS scope it actually used.
 *  6. encode   after answer, always: only the encoded size tells whether TC must be set, and
 *              early exits (FORMERR, REFUSED) need encoding too.
 *  7. account  last, always: metrics count what was really sent (rcode after truncation).
 */
import type { Query, Parsed, Response } from './wire.js';
import type { Topology } from './topology.js';
import type { ZoneSettings } from './zone-data.js';
import type { DnsMetrics } from './metrics.js';
import type { Steered } from './steering.js';
import { parseStage, ednsStage, zoneStage, locateStage, answerStage, encodeStage, accountStage } from './stages.js';

export interface QueryContext {
  raw: Buffer;
  transport: 'udp' | 'tcp';
  /** Resolver (peer) address. */
  peer: string;
  parsed?: Parsed;
  query?: Query;
  zone?: string;
  location?: { region?: string; isp?: string; scope: number };
  response?: Response;
  steered?: Steered;
  /** Set when the stage sequence must skip to encoding (an answer or error is ready). */
  done: boolean;
  out?: Buffer;
  truncated?: boolean;
}

export interface PipelineEnv {
  topology(): Topology;
  settings: ZoneSettings;
  metrics: DnsMetrics;
  udpSize: number;
  /** Increments per steered answer: rotates nodes when a cluster has more than `records`. */
  nextRotation(): number;
  onFailOpen(name: string): void;
}

export interface Stage {
  name: string;
  /** Runs even after an earlier stage has set `done`. */
  always: boolean;
  run(ctx: QueryContext, env: PipelineEnv): void;
}

export const PIPELINE: readonly Stage[] = [parseStage, ednsStage, zoneStage, locateStage, answerStage, encodeStage, accountStage];

/** Runs one query through the pipeline; returns the bytes to send (undefined: send nothing). */
export function handleQuery(raw: Buffer, transport: 'udp' | 'tcp', peer: string, env: PipelineEnv): Buffer | undefined {
  const ctx: QueryContext = { raw, transport, peer, done: false };
  for (const stage of PIPELINE) {
    if (ctx.done && !stage.always) continue;
    stage.run(ctx, env);
  }
  return ctx.out;
}
