import { readFile, stat } from 'node:fs/promises';
import { extname, join, posix, resolve, sep } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MeridianError } from '../../src/core/errors/index.js';

/** Where the console is served: every path under it is a file of the build or a client route. */
export const CONSOLE_PREFIX = '/ui';

/**
 * The console's policy: only this origin's own scripts, styles and API; no inline script or
 * style attribute, no plugin, no framing, no form sent anywhere, no <base> rewriting.
 */
export const CONSOLE_CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "font-src 'self'", "connect-src 'self'",
  "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

const SECURITY_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export interface StaticReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * The built console (dist/console) as /ui/...: a file of the build with its content type, a
 * client route (any other path without a file extension) as index.html. Hashed assets are
 * cached for a year; index.html is revalidated so a new build is picked up at once.
 */
export class ConsoleFiles {
  private readonly root: string;

  constructor(dir: string) {
    this.root = resolve(dir);
  }

  /** The answer to GET/HEAD `pathname` (which starts with /ui); errors are MeridianErrors. */
  async answer(pathname: string): Promise<StaticReply> {
    if (pathname === CONSOLE_PREFIX) return { status: 308, headers: { location: `${CONSOLE_PREFIX}/`, ...SECURITY_HEADERS }, body: Buffer.alloc(0) };
    let rel: string;
    try {
      rel = decodeURIComponent(pathname.slice(CONSOLE_PREFIX.length));
    } catch {
      throw new MeridianError('MERIDIAN_ERR_CONTROLLER_CONSOLE_NO_FILE', { path: pathname });
    }
    // Normalised as a URL path, then checked to stay inside the build folder (no ../ escape).
    const clean = posix.normalize(`/${rel}`);
    const file = join(this.root, clean);
    if (rel.includes('\0') || (file !== this.root && !file.startsWith(this.root + sep))) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_CONSOLE_NO_FILE', { path: pathname });
    if (clean !== '/' && (await isFile(file))) return this.file(file, clean.startsWith('/assets/'));
    // A path that names a file (has an extension) and is not there is a 404, not the app.
    if (extname(clean) !== '') throw new MeridianError('MERIDIAN_ERR_CONTROLLER_CONSOLE_NO_FILE', { path: pathname });
    const index = join(this.root, 'index.html');
    if (!(await isFile(index))) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_CONSOLE_NOT_BUILT', { dir: this.root });
    return this.file(index, false);
  }

  private async file(path: string, immutable: boolean): Promise<StaticReply> {
    const body = await readFile(path);
    return {
      status: 200,
      body,
      headers: {
        'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
        'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        ...SECURITY_HEADERS,
      },
    };
  }

  /** Writes the answer (no body for HEAD). */
  static send(req: IncomingMessage, res: ServerResponse, reply: StaticReply): void {
    res.writeHead(reply.status, { ...reply.headers, 'content-length': reply.body.length });
    res.end(req.method === 'HEAD' ? undefined : reply.body);
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
