import type { Socket } from 'node:net';
import type { MeridianError } from '../core/errors/index.js';
import { DEFAULT_PARSER_LIMITS, type ParserLimits } from './parser.js';
import type { EngineRequest } from './request.js';
import type { EngineResponse, ResponseSettings } from './response.js';

export interface EngineLimits {
  /** Request line + headers, bytes (431 above); the same budget again for a chunked body's trailers. Default 16384. */
  maxHeaderBytes: number;
  /** Header count (431 above). Default 100. */
  maxHeaders: number;
  /** Request-target length, bytes (414 above). Default 8192. */
  maxUrlLength: number;
  /**
   * Body bytes the engine reads and drops when a response ends before its request body did, to
   * keep the connection; past this the connection is closed instead. Default 65536.
   */
  maxDiscardBytes: number;
}

export interface EngineTimeouts {
  /** The whole head must arrive within this from its first byte (slowloris guard; not reset by trickling). 408. Default 10000. */
  headersMs: number;
  /** The whole request (head and body) within this from the head's first byte, 0 = none. 408 or close. Default 300000. */
  requestMs: number;
  /** An idle keep-alive connection is closed after this. Default 5000. */
  keepAliveMs: number;
  /** How often deadlines are checked (their precision). Default 1000. */
  checkMs: number;
}

export interface HttpEngineOptions {
  /** Called once per request, in order; the response must be ended (or destroyed) for the next one to be read. */
  onRequest(req: EngineRequest, res: EngineResponse): void;
  /**
   * CONNECT, or Connection: upgrade + Upgrade on a request without a body: the socket and the
   * bytes read past the head are the caller's. Without it, CONNECT is refused (501) and an
   * Upgrade is ignored (the request is served as a plain one).
   */
  onUpgrade?(req: EngineRequest, socket: Socket, head: Buffer): void;
  /** A refusal or timeout answered by the engine (for logs and metrics). */
  onClientError?(err: MeridianError, socket: Socket): void;
  /**
   * The answer sent for a refusal or timeout (default: the error itself): lets a program keep
   * its own codes. Its status is the one sent; the connection is closed after it either way.
   */
  answerFor?(err: MeridianError): MeridianError;
  limits?: Partial<EngineLimits>;
  timeouts?: Partial<EngineTimeouts>;
  /** Add a Date header to responses that carry none. Default true. */
  date?: boolean;
  /** Refuse HTTP/1.1 requests without Host. Default true (RFC 9112 3.2). */
  requireHost?: boolean;
}

/** The options with every default filled in, shared by the connections of one engine. */
export interface EngineConfig {
  onRequest: HttpEngineOptions['onRequest'];
  onUpgrade: HttpEngineOptions['onUpgrade'];
  onClientError: HttpEngineOptions['onClientError'];
  answerFor: HttpEngineOptions['answerFor'];
  limits: EngineLimits;
  timeouts: EngineTimeouts;
  parser: ParserLimits;
  response: ResponseSettings;
}

export function engineConfig(opts: HttpEngineOptions): EngineConfig {
  const limits: EngineLimits = {
    maxHeaderBytes: DEFAULT_PARSER_LIMITS.maxHeaderBytes, maxHeaders: DEFAULT_PARSER_LIMITS.maxHeaders,
    maxUrlLength: DEFAULT_PARSER_LIMITS.maxUrlLength, maxDiscardBytes: 65_536, ...opts.limits,
  };
  const timeouts: EngineTimeouts = { headersMs: 10_000, requestMs: 300_000, keepAliveMs: 5_000, checkMs: 1_000, ...opts.timeouts };
  return {
    onRequest: opts.onRequest,
    onUpgrade: opts.onUpgrade,
    onClientError: opts.onClientError,
    answerFor: opts.answerFor,
    limits,
    timeouts,
    parser: {
      maxHeaderBytes: limits.maxHeaderBytes, maxHeaders: limits.maxHeaders, maxUrlLength: limits.maxUrlLength,
      requireHost: opts.requireHost ?? true,
    },
    response: { date: opts.date ?? true },
  };
}
