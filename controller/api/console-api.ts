import type { ApiServer } from './server.js';
import { ConsoleFiles } from './console-files.js';

/**
 * What the web console needs beyond the resource and ops endpoints: GET /v1/whoami (the name
 * and role of the token, so the console shows edit controls to write and admin tokens only)
 * and the built console itself at /ui/.
 */
export function registerConsole(api: ApiServer, dir: string): void {
  api.on('GET', '/v1/whoami', 'read', 'who the token is', async (req) => ({ status: 200, body: { name: req.principal.name, role: req.principal.role } }));
  api.serveConsole(new ConsoleFiles(dir));
}
