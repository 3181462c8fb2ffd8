import { request } from 'undici';

export interface BoundedGetOptions {
  /** One deadline for the whole exchange: connect, headers and body. */
  timeoutMs: number;
  /** Largest body read; a declared or streamed body over it fails with `tooLargeMessage`. */
  maxBytes: number;
  tooLargeMessage: string;
  headers?: Record<string, string>;
}

/**
 * GET from a peer that is not trusted to answer a bounded body: 200 only, no redirects
 * (undici's request does not follow them), the size cap checked while streaming (a
 * Content-Length is not trusted) and the transfer dropped as soon as it is passed.
 */
export async function boundedGet(url: string | URL, opts: BoundedGetOptions): Promise<Buffer> {
  const t = opts.timeoutMs;
  const res = await request(url, { method: 'GET', headers: opts.headers ?? {}, signal: AbortSignal.timeout(t), headersTimeout: t, bodyTimeout: t });
  // Destroying an unread body emits an AbortError; unheard, it would take the process down.
  res.body.on('error', () => undefined);
  try {
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
    if (Number(res.headers['content-length']) > opts.maxBytes) throw new Error(opts.tooLargeMessage);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > opts.maxBytes) throw new Error(opts.tooLargeMessage);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, size);
  } finally {
    // Stops the transfer of an answer refused early (status, size); a no-op once read.
    res.body.destroy();
  }
}
