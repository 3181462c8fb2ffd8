/**
 * One client connection: feeds the socket's bytes to the parser, runs one request at a time
 * (pipelined requests wait, unparsed, until the previous response is complete, so answers go
 * out in order and memory stays bounded), enforces the head/request/idle deadlines, refuses
 * what the parser refuses with a coded answer, and hands the socket over on an upgrade.
 */
import type { Socket } from 'node:net';
import { MeridianError } from '../core/errors/index.js';
import { RequestParser, type ParserHandler, type RequestHead, type ParseError } from './parser.js';
import { EngineRequest, type BodySource } from './request.js';
import { EngineResponse, type ResponseOwner } from './response.js';
import type { EngineConfig } from './engine-config.js';

export const enum Deadline { None, Headers, Request, Idle }

const EMPTY = Buffer.alloc(0);

export class Connection implements ParserHandler, ResponseOwner, BodySource {
  /** Timestamp (ms) at which `deadlineKind` expires; 0: none. Checked by the engine's sweep. */
  deadline = 0;
  deadlineKind = Deadline.None;
  /** The head of the current request started at (ms), for the request deadline. */
  private headStartedAt = 0;
  private readonly parser: RequestParser;
  private req: EngineRequest | null = null;
  private res: EngineResponse | null = null;
  /** The reader of the current body is behind: the parser waits for _read(). */
  private bodyPaused = false;
  /** The response ended before the body did: the rest of the body is read and dropped. */
  private discarding = false;
  private discarded = 0;
  private closing = false;
  /** The client half-closed: what the parser holds is all there will be. */
  private peerEnded = false;
  /** A head was refused after parsing (CONNECT without an upgrade handler): nothing more is done. */
  private refused = false;
  private detached = false;
  /** pauseSocket() stopped the socket's flow. */
  private socketPaused = false;
  private readonly onData = (chunk: Buffer): void => this.data(chunk);
  private readonly onEnd = (): void => this.ended();
  private readonly onClose = (): void => this.closed();
  private readonly onError = (): void => { /* 'close' follows */ };

  /**
   * @param sharedReads the socket reads into the engine's shared buffer and calls readShared()
   *   (shared-reads.ts); else its 'data' events are the input.
   */
  constructor(readonly socket: Socket, private readonly config: EngineConfig, private readonly onGone: (c: Connection) => void, private readonly sharedReads = false) {
    this.parser = new RequestParser(this, config.parser);
    if (!sharedReads) socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    this.setDeadline(Deadline.Headers, config.timeouts.headersMs);
    this.headStartedAt = Date.now();
  }

  /** No request in progress (between requests, nothing of the next received). */
  get idle(): boolean { return this.req === null && this.parser.idle; }

  /** Bytes held by the engine for this connection: unparsed input plus the body stream's buffer. */
  get bufferedBytes(): number {
    return this.parser.buffered + (this.req ? this.req.bufferedBodyBytes : 0);
  }

  /** Closes the connection once the current response (if any) is complete; at once when idle. */
  shutdown(): void {
    this.closing = true;
    if (this.idle) this.socket.end();
    else this.res?.closeConnection();
  }

  /** The socket's onread callback: `buf` is reused by the next read, so nothing of it is kept. */
  readShared(n: number, buf: Buffer): boolean {
    const chunk = buf.subarray(0, n);
    // Handed over (an upgrade): the socket is a plain stream again for its new owner.
    if (this.detached) return this.socket.push(Buffer.from(chunk));
    this.data(chunk);
    this.parser.release();
    return true;
  }

  private data(chunk: Buffer): void {
    if (this.deadlineKind === Deadline.Idle) {
      // First byte of the next request: the head deadline runs from now and is not moved by trickling.
      this.headStartedAt = Date.now();
      this.setDeadline(Deadline.Headers, this.config.timeouts.headersMs);
    }
    this.parser.push(chunk);
    this.afterParse();
  }

  private afterParse(): void {
    if (this.detached) return;
    const err = this.parser.error;
    if (err) { this.refuse(err); return; }
    if (this.parser.isPaused) {
      // A complete request waiting for its response with nothing more received leaves the
      // socket flowing: pausing and resuming it for every request costs more than the rare
      // pipelined chunk, which the parser holds and which then pauses it (memory stays bounded).
      if (this.bodyPaused || this.parser.buffered > 0 || !this.awaitingResponse()) this.pauseSocket();
    } else if (this.peerEnded) this.afterPeerEnded();
  }

  /** The current request is complete and its response is being made. */
  private awaitingResponse(): boolean {
    return this.req !== null && this.req.complete && this.res !== null && !this.closing && !this.refused;
  }

  private pauseSocket(): void {
    if (this.socketPaused) return;
    this.socketPaused = true;
    this.socket.pause();
  }

  /** Reads again (after pauseSocket) unless the parser still waits or the socket is handed over. */
  private resumeSocket(): void {
    if (!this.socketPaused || this.parser.isPaused || this.detached) return;
    this.socketPaused = false;
    this.socket.resume();
  }

  /**
   * The client half-closed and the parser has consumed every byte it will ever get: close once
   * nothing is left to answer; a request cut short will not be completed.
   */
  private afterPeerEnded(): void {
    const req = this.req;
    if (req === null) {
      if (this.parser.idle) this.socket.end();
      else this.destroy(); // inside a head
      return;
    }
    if (!req.complete) {
      req.fail(new MeridianError('MERIDIAN_ERR_HTTP_BODY_INCOMPLETE'));
      this.destroy();
    }
    // else: a response is in progress; the next afterParse() (after it) decides.
  }

  // ---- parser events --------------------------------------------------------------------

  onHead(head: RequestHead): void {
    const cfg = this.config;
    if (head.upgradeRequested) {
      const bodyless = !head.chunked && head.contentLength <= 0;
      if (head.method === 'CONNECT' && !cfg.onUpgrade) {
        this.refused = true;
        this.parser.pause();
        this.sendError(new MeridianError('MERIDIAN_ERR_HTTP_CONNECT_UNSUPPORTED'));
        return;
      }
      // An upgrade is handed over only when nothing else precedes the other protocol's bytes;
      // otherwise (a body, or no upgrade handler) it is served as a plain request (RFC 9110 7.8 lets a server ignore Upgrade).
      if (!cfg.onUpgrade || (!bodyless && head.method !== 'CONNECT')) head.upgradeRequested = false;
    }
    const req = new EngineRequest(head, this.socket, this.parser, this);
    this.req = req;
    if (head.upgradeRequested) return; // handed over at message complete
    const requestMs = cfg.timeouts.requestMs;
    if (requestMs > 0) this.setDeadlineAt(Deadline.Request, this.headStartedAt + requestMs);
    else this.setDeadline(Deadline.None, 0);
    const res = new EngineResponse(this.socket, this, head.method === 'HEAD', head.versionMinor, head.keepAlive && !this.closing, cfg.response);
    this.res = res;
    cfg.onRequest(req, res);
  }

  onBody(chunk: Buffer): void {
    if (this.discarding) {
      this.discarded += chunk.length;
      if (this.discarded > this.config.limits.maxDiscardBytes) { this.parser.pause(); this.destroy(); }
      return;
    }
    // A body chunk outlives this read (the reader may hold it): out of the shared buffer.
    if (!(this.req as EngineRequest).deliver(this.sharedReads ? Buffer.from(chunk) : chunk)) {
      this.bodyPaused = true;
      this.parser.pause();
    }
  }

  onMessageComplete(trailers: string[]): void {
    if (this.refused) return;
    const req = this.req as EngineRequest;
    req.trailers = trailers;
    req.complete = true;
    if (this.deadlineKind === Deadline.Request) this.setDeadline(Deadline.None, 0);
    if (!this.discarding) req.finish();
    if (this.parser.upgraded) { this.handOver(req); return; }
    if (this.res === null || this.discarding) {
      // The response is already complete: on to the next request.
      this.nextRequest();
      return;
    }
    // Wait for the response before parsing the next request (answers in order, bounded memory).
    this.parser.pause();
  }

  resumeBody(): void {
    if (!this.bodyPaused || this.detached) return;
    this.bodyPaused = false;
    // The message may have completed in the step that paused for the reader: then the parser
    // waits for the response, not for the reader.
    if (this.req?.complete && this.res !== null) return;
    this.parser.resume();
    this.afterParse();
    this.resumeSocket();
  }

  // ---- response events --------------------------------------------------------------------

  responseFinished(closeAfter: boolean): void {
    const req = this.req as EngineRequest;
    const res = this.res;
    this.res = null;
    if (closeAfter || this.closing) {
      this.finishAndClose();
      return;
    }
    if (!req.complete) {
      // Answered from inside onRequest, before the parser marked the bodiless message
      // complete: onMessageComplete, right after, moves on to the next request.
      if (!req.hasBody) return;
      // Answered before the body arrived. A client waiting for 100 Continue that never got it
      // may or may not send its body: the framing of the next request is unknown.
      if (req.expectsContinue && !(res?.continued ?? false)) {
        this.finishAndClose();
        return;
      }
      const declaredRest = req.contentLength > 0 ? req.contentLength - req.bodyBytes : 0;
      if (declaredRest > this.config.limits.maxDiscardBytes) { this.finishAndClose(); return; }
      // Read the rest of the body and drop it (bounded by maxDiscardBytes), then the next request.
      this.discarding = true;
      req.drop();
      this.bodyPaused = false;
      this.parser.resume();
      this.afterParse();
      this.resumeSocket();
      return;
    }
    this.nextRequest();
  }

  responseFailed(): void {
    this.destroy();
  }

  private nextRequest(): void {
    this.req = null;
    this.res = null;
    this.discarding = false;
    this.discarded = 0;
    this.bodyPaused = false;
    if (this.closing) { this.finishAndClose(); return; }
    this.setDeadline(Deadline.Idle, this.config.timeouts.keepAliveMs);
    if (!this.parser.idle) {
      // Bytes of the next request are already here.
      this.headStartedAt = Date.now();
      this.setDeadline(Deadline.Headers, this.config.timeouts.headersMs);
    }
    this.parser.resume();
    this.afterParse();
    this.resumeSocket();
  }

  private finishAndClose(): void {
    this.closing = true;
    this.setDeadline(Deadline.None, 0);
    this.parser.pause();
    this.socket.end();
  }

  // ---- refusals, timeouts, close ------------------------------------------------------------

  private refuse(err: ParseError): void {
    this.parser.pause();
    const res = this.res;
    // Mid-response, or after it (dropping the rest of a body): only closing is honest.
    if ((res && res.headersSent) || this.discarding) { this.destroy(); return; }
    if (res) res.abort();
    this.res = null;
    this.req?.fail(new MeridianError(err.code));
    const params: Record<string, string | number> = {};
    const p = this.config.parser;
    if (err.code === 'MERIDIAN_ERR_HTTP_HEADERS_TOO_LARGE') params.limit = p.maxHeaderBytes;
    else if (err.code === 'MERIDIAN_ERR_HTTP_TOO_MANY_HEADERS') params.limit = p.maxHeaders;
    else if (err.code === 'MERIDIAN_ERR_HTTP_URL_TOO_LONG') params.limit = p.maxUrlLength;
    else if (err.code === 'MERIDIAN_ERR_HTTP_BAD_CHUNK') params.reason = err.reason;
    const error = new MeridianError(err.code, params);
    if (err.code === 'MERIDIAN_ERR_HTTP_DATA_AFTER_CLOSE') { this.finishAndClose(); return; }
    this.sendError(error);
  }

  /** Answers with the error's status and JSON body, then closes. */
  private sendError(error: MeridianError): void {
    this.config.onClientError?.(error, this.socket);
    this.closing = true;
    this.setDeadline(Deadline.None, 0);
    const answer = this.config.answerFor?.(error) ?? error;
    const body = JSON.stringify(answer.toJSON());
    const status = answer.status;
    const head = `HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
    if (!this.socket.destroyed && this.socket.writable) this.socket.end(head + body);
    else this.socket.destroy();
  }

  /** The engine's sweep found the deadline passed. */
  expire(): void {
    const kind = this.deadlineKind;
    this.setDeadline(Deadline.None, 0);
    if (kind === Deadline.Idle) { this.socket.end(); this.socket.destroySoon(); return; }
    if (kind === Deadline.Headers && !this.parser.inHead && this.req === null) {
      // Nothing sent at all on a fresh connection: close quietly.
      this.socket.destroy();
      return;
    }
    const code = kind === Deadline.Headers ? 'MERIDIAN_ERR_HTTP_HEADERS_TIMEOUT' : 'MERIDIAN_ERR_HTTP_REQUEST_TIMEOUT';
    const ms = kind === Deadline.Headers ? this.config.timeouts.headersMs : this.config.timeouts.requestMs;
    this.parser.pause();
    const res = this.res;
    if (res && res.headersSent) { this.config.onClientError?.(new MeridianError(code, { ms }), this.socket); this.destroy(); return; }
    if (res) res.abort();
    this.res = null;
    this.req?.fail(new MeridianError(code, { ms }));
    this.sendError(new MeridianError(code, { ms }));
  }

  private ended(): void {
    this.peerEnded = true;
    if (!this.detached && !this.parser.isPaused) this.afterPeerEnded();
  }

  private closed(): void {
    if (this.detached) return;
    this.detached = true;
    this.setDeadline(Deadline.None, 0);
    const req = this.req;
    if (req && !req.complete) {
      req.fail(new MeridianError('MERIDIAN_ERR_HTTP_BODY_INCOMPLETE'));
    }
    this.res?.abort();
    this.res = null;
    this.unlisten();
    this.onGone(this);
  }

  private destroy(): void {
    this.socket.destroy();
  }

  private handOver(req: EngineRequest): void {
    const head = this.parser.takeRemaining();
    this.detached = true;
    this.setDeadline(Deadline.None, 0);
    this.unlisten();
    this.onGone(this);
    const onUpgrade = this.config.onUpgrade;
    if (!onUpgrade) { this.socket.destroy(); return; }
    // As node:http does: the user's first 'data' listener (or resume()) starts the flow again.
    (this.socket as unknown as { readableFlowing: boolean | null }).readableFlowing = null;
    onUpgrade(req, this.socket, head.length > 0 ? Buffer.from(head) : EMPTY);
  }

  private unlisten(): void {
    const s = this.socket;
    s.removeListener('data', this.onData);
    s.removeListener('end', this.onEnd);
    s.removeListener('close', this.onClose);
    s.removeListener('error', this.onError);
  }

  private setDeadline(kind: Deadline, ms: number): void {
    if (kind === Deadline.None || ms <= 0) { this.deadlineKind = Deadline.None; this.deadline = 0; return; }
    this.deadlineKind = kind;
    this.deadline = Date.now() + ms;
  }

  private setDeadlineAt(kind: Deadline, at: number): void {
    this.deadlineKind = kind;
    this.deadline = at;
  }
}

function statusText(status: number): string {
  switch (status) {
    case 400: return 'Bad Request';
    case 408: return 'Request Timeout';
    case 414: return 'URI Too Long';
    case 431: return 'Request Header Fields Too Large';
    case 501: return 'Not Implemented';
    default: return 'Error';
  }
}
