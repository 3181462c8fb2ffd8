// The controller's API as the console uses it: the token lives in sessionStorage (gone when the
// tab closes), travels only in the Authorization header, never in a URL.
const TOKEN_KEY = 'meridian.token';

export type Role = 'read' | 'write' | 'admin';
export interface Who {
  name: string;
  role: Role;
}

/** An error answer: its code, message and, when it is about one field, that field (`nodes[0].port`). */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message);
  }
}

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  save: (token: string): void => sessionStorage.setItem(TOKEN_KEY, token),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

/** Fired when the API refuses the kept token (revoked, or the controller's tokens changed). */
export const SIGNED_OUT = 'meridian:signed-out';

export const canWrite = (role: Role): boolean => role === 'write' || role === 'admin';

interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** One API call with the session's token (or `token`); an error answer throws ApiError with its code. */
export async function api<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
  return (await apiCall<T>(method, path, opts)).body;
}

/** As api(), with the answer's ETag (the stored revision a later If-Match names). */
export async function apiCall<T>(method: string, path: string, opts: CallOptions = {}): Promise<{ body: T; etag: string | null }> {
  const token = opts.token ?? session.token();
  const headers: Record<string, string> = { accept: 'application/json', ...(opts.headers ?? {}) };
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, cache: 'no-store', credentials: 'omit', ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  const body: unknown = text ? JSON.parse(text) : {};
  if (!res.ok) {
    if (res.status === 401 && opts.token === undefined && token) {
      session.clear();
      dispatchEvent(new Event(SIGNED_OUT));
    }
    const e = body as { code?: string; message?: string; field?: unknown };
    throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? res.statusText, typeof e.field === 'string' ? e.field : undefined);
  }
  return { body: body as T, etag: res.headers.get('etag') };
}

export const whoami = (token?: string): Promise<Who> => api<Who>('GET', '/v1/whoami', token === undefined ? {} : { token });

// The shapes of GET /v1/status and /v1/leader, from the controller's own declarations (types only: nothing of it is bundled).
export type { ControllerStatus, NodeState, NodeStatus, RegionState, RegionStatus } from '../../status.js';
export interface Leader {
  id: string | null;
  api: string | null;
  is_me: boolean;
}

export interface Listed<T> {
  id: string;
  revision: number;
  value: T;
}
