import { Transform, type TransformCallback } from 'node:stream';

/** Raised inside the body stream when a chunked body passes the route's limit. */
export class BodyTooLargeError extends Error {
  readonly code = 'MERIDIAN_BODY_TOO_LARGE';
  /** `errorCode`: the client answer; a plugin's limit (ctx.maxRequestBody) answers with its own code. */
  constructor(readonly limit: number, readonly errorCode = 'MERIDIAN_ERR_GATEWAY_BODY_TOO_LARGE') {
    super(`request body larger than ${limit} bytes`);
  }
}

/**
 * Counts a body of unknown length as it streams and fails it past the limit; bodies with a
 * Content-Length are checked before anything is sent and never pass through here.
 */
export class BodyLimit extends Transform {
  private seen = 0;
  constructor(private readonly limit: number, private readonly errorCode?: string) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) cb(new BodyTooLargeError(this.limit, this.errorCode));
    else cb(null, chunk);
  }
}
