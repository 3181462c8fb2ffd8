import { MeridianError, type ErrorParams } from '../../core/errors/index.js';

/** Where an exchange was when it failed: connect, sending the request, or reading the response. */
export type Http1Phase = 'connect' | 'send' | 'read';

export interface Http1ErrorFacts {
  readonly phase: Http1Phase;
  /** Some byte of this request reached the socket. */
  readonly requestWritten: boolean;
  /** The connection had served an earlier exchange (idle keep-alive socket). */
  readonly reusedSocket: boolean;
  /**
   * Safe to send the same request again (to this node or another): nothing of it was written,
   * or it is the keep-alive race (a reused socket closed before any response byte) for an
   * idempotent request whose body can be replayed (none, or a Buffer).
   */
  readonly retryable: boolean;
}

/**
 * A failed upstream exchange, coded from the UPSTREAM catalogue. `phase` keeps the gateway's
 * timeout phases (connect/send/read); see gatewayErrorOf for the answer the client gets.
 */
export class Http1Error extends MeridianError implements Http1ErrorFacts {
  readonly phase: Http1Phase;
  readonly requestWritten: boolean;
  readonly reusedSocket: boolean;
  readonly retryable: boolean;

  constructor(code: string, params: ErrorParams, facts: Http1ErrorFacts, cause?: unknown) {
    super(code, params, cause === undefined ? undefined : { cause });
    this.name = 'Http1Error';
    this.phase = facts.phase;
    this.requestWritten = facts.requestWritten;
    this.reusedSocket = facts.reusedSocket;
    this.retryable = facts.retryable;
  }

  /** A timeout (504 at the gateway) rather than a failure (502). */
  get isTimeout(): boolean {
    return this.status === 504;
  }
}

/** The gateway's answer for a client error, compatible with the codes and phases it sends today. */
export function gatewayErrorOf(err: Http1Error, upstream: string): { code: string; params: ErrorParams } {
  if (err.code === 'MERIDIAN_ERR_UPSTREAM_POOL_CLOSED') return { code: 'MERIDIAN_ERR_GATEWAY_NO_HEALTHY_NODE', params: { upstream } };
  if (err.isTimeout) return { code: 'MERIDIAN_ERR_GATEWAY_UPSTREAM_TIMEOUT', params: { upstream, phase: err.phase } };
  return { code: 'MERIDIAN_ERR_GATEWAY_UPSTREAM_ERROR', params: { upstream, reason: err.message } };
}

/** Thrown by the response parser; the connection turns it into an Http1Error with its facts. */
export class ResponseParseError extends Error {
  constructor(
    readonly code: 'MERIDIAN_ERR_UPSTREAM_BAD_RESPONSE' | 'MERIDIAN_ERR_UPSTREAM_HEAD_TOO_LARGE',
    readonly reason: string,
  ) {
    super(reason);
  }
}
