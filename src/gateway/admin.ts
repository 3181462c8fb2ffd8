import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { MeridianError } from '../core/errors/index.js';
import { parseJsonBounded } from '../core/json.js';
import { parsePurgeRequest } from '../discovery/index.js';
import type { PurgeFilter } from './ipc.js';

export interface PurgeResult {
  workers: number;
  applied: number;
  took_ms: number;
}

/** What the admin endpoints read; the primary implements it. */
export interface AdminBackend {
  /** 200 when serving, 503 while draining or before the first config is applied. */
  health(): { ok: boolean; state: 'serving' | 'draining' | 'starting' };
  status(): Promise<unknown>;
  metrics(): Promise<{ contentType: string; body: string }>;
  purge(filter: PurgeFilter): Promise<PurgeResult>;
  readonly tokenHash: string | undefined;
}

const MAX_BODY = 64 * 1024;
/**
 * An oversized body is still read and dropped up to this size before the 413: closing with
 * unread bytes sends a RST, which can destroy the answer before the client reads it.
 */
const DRAIN_LIMIT = 1024 * 1024;

/** sha256(token) compared in constant time with the configured hash; no hash = no access. */
export function tokenMatches(header: string | undefined, tokenHash: string | undefined): boolean {
  if (!tokenHash || !header) return false;
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (!m) return false;
  const got = createHash('sha256').update((m[1] as string).trim()).digest();
  const want = Buffer.from(tokenHash, 'hex');
  return want.length === got.length && timingSafeEqual(got, want);
}

function json(res: ServerResponse, status: number, body: unknown, close = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...(close ? { connection: 'close' } : {}) });
  res.end(text);
}

function error(res: ServerResponse, err: MeridianError): void {
  // A refused body may be partly unread: the connection is not reused.
  json(res, err.status, err.toJSON(), err.code === 'MERIDIAN_ERR_GATEWAY_BODY_TOO_LARGE');
}

/** The body up to MAX_BODY; past it a 413, answered once the body ended (or DRAIN_LIMIT was read). */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = (): MeridianError => new MeridianError('MERIDIAN_ERR_GATEWAY_BODY_TOO_LARGE', { limit: MAX_BODY });
    if (Number(req.headers['content-length'] ?? 0) > DRAIN_LIMIT) {
      reject(tooLarge());
      return;
    }
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
      else if (size > DRAIN_LIMIT) {
        req.pause();
        reject(tooLarge());
      }
    });
    req.on('end', () => (size > MAX_BODY ? reject(tooLarge()) : resolve(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

/** The admin listener: its own address, never the public port. */
export function createAdminServer(backend: AdminBackend): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = `${req.method} ${path}`;
    const run = async (): Promise<void> => {
      switch (route) {
        case 'GET /healthz': {
          const h = backend.health();
          json(res, h.ok ? 200 : 503, { status: h.state });
          return;
        }
        case 'GET /status':
          json(res, 200, await backend.status());
          return;
        case 'GET /metrics': {
          const m = await backend.metrics();
          res.writeHead(200, { 'content-type': m.contentType });
          res.end(m.body);
          return;
        }
        case 'POST /admin/discovery/purge': {
          if (!tokenMatches(req.headers.authorization, backend.tokenHash)) {
            error(res, new MeridianError('MERIDIAN_ERR_GATEWAY_UNAUTHORIZED'));
            return;
          }
          const text = await readBody(req);
          let body: unknown = {};
          if (text.trim() !== '') {
            try {
              body = parseJsonBounded(text);
            } catch (err) {
              error(res, new MeridianError('MERIDIAN_ERR_GATEWAY_BAD_REQUEST', { reason: `body is not JSON: ${(err as Error).message}` }));
              return;
            }
          }
          // The discovery module's schema: a bad filter is a 400 here, not N worker failures.
          const filter: PurgeFilter = parsePurgeRequest(body);
          const result = await backend.purge(filter);
          if (result.applied === result.workers) json(res, 200, result);
          else json(res, 504, { ...new MeridianError('MERIDIAN_ERR_GATEWAY_PURGE_INCOMPLETE', { applied: result.applied, workers: result.workers, ms: result.took_ms }).toJSON(), ...result });
          return;
        }
        default:
          error(res, new MeridianError('MERIDIAN_ERR_GATEWAY_ADMIN_NOT_FOUND', { method: req.method ?? '', path: path ?? '' }));
      }
    };
    run().catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (err instanceof MeridianError) error(res, err);
      else error(res, new MeridianError('MERIDIAN_ERR_GATEWAY_ADMIN_FAILED', { reason: (err as Error).message }));
    });
  });
}
