import { MeridianError } from '../../src/core/errors/index.js';

/** Exit codes of `meridian ctl` (stated in --help and the README). */
export const EXIT = { ok: 0, error: 1, usage: 2, notFound: 3, conflict: 4, auth: 5, unreachable: 6, drainIncomplete: 7, invalid: 8 } as const;

export function exitFor(status: number, code?: string): number {
  if (code === 'MERIDIAN_ERR_CONTROLLER_DRAIN_INCOMPLETE' || code === 'MERIDIAN_ERR_CONTROLLER_UNDRAIN_INCOMPLETE') return EXIT.drainIncomplete;
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  if (status === 400 || status === 413) return EXIT.invalid;
  return EXIT.error;
}

/** Longest a call may take: past the controller's longest wait (a drain's 60 s deadline). */
const CALL_TIMEOUT_MS = 65_000;

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  etag: string | null;
}

/** A failed API call, carrying the controller's coded body and the exit code it maps to. */
export class ApiFailure extends Error {
  constructor(readonly status: number, readonly body: Record<string, unknown>) {
    super(typeof body.message === 'string' ? `${body.message} [${String(body.code)}]` : `HTTP ${status}`);
  }

  get exitCode(): number {
    return exitFor(this.status, typeof this.body.code === 'string' ? this.body.code : undefined);
  }
}

export class CtlClient {
  constructor(private readonly server: string, private readonly token: string | undefined) {}

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const res = await this.send(method, path, body, headers);
    return this.answer(res);
  }

  /**
   * A call answered with progress lines (x-ndjson, see ApiServer): each `progress` event goes
   * to `onProgress` as it arrives; the last line is the answer a plain call would get.
   */
  async progress(method: string, path: string, body: unknown, onProgress: (event: Record<string, unknown>) => void, timeoutMs = CALL_TIMEOUT_MS): Promise<Answer> {
    const res = await this.send(method, path, body, { accept: 'application/x-ndjson' }, timeoutMs);
    if (!(res.headers.get('content-type') ?? '').includes('application/x-ndjson')) return this.answer(res);
    const decoder = new TextDecoder();
    let buffered = '';
    let last: { status: number; body: Record<string, unknown> } | undefined;
    const take = (line: string) => {
      if (!line.trim()) return;
      const v = JSON.parse(line) as { progress?: Record<string, unknown>; status?: number; body?: Record<string, unknown> };
      if (v.progress) onProgress(v.progress);
      else last = { status: v.status ?? 500, body: v.body ?? {} };
    };
    for await (const chunk of res.body ?? []) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        take(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    }
    take(buffered);
    if (!last) throw new ApiFailure(502, { message: 'the controller ended the answer before its result' });
    if (last.status >= 400) throw new ApiFailure(last.status, last.body);
    return { status: last.status, body: last.body, etag: null };
  }

  private async send(method: string, path: string, body: unknown, headers: Record<string, string>, timeoutMs = CALL_TIMEOUT_MS): Promise<Response> {
    try {
      return await fetch(new URL(path, this.server), {
        method,
        headers: { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: { message?: string } };
      throw new MeridianError('MERIDIAN_ERR_CONTROLLER_CTL_UNREACHABLE', { url: this.server, reason: e.cause?.message ?? e.message });
    }
  }

  private async answer(res: Response): Promise<Answer> {
    const text = await res.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      parsed = { message: text };
    }
    if (res.status >= 400) throw new ApiFailure(res.status, parsed);
    return { status: res.status, body: parsed, etag: res.headers.get('etag') };
  }
}
