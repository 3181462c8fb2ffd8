import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** nginx from Debian's nginx-light, installed on first use; the binary's path. */
export async function ensureNginx(): Promise<string> {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx']) {
    try {
      await run(p, ['-v']);
      return p;
    } catch {
      // try the next
    }
  }
  await run('bash', ['-c', 'apt-get install -y -qq nginx-light >/dev/null 2>&1 || (apt-get update -qq >/dev/null && apt-get install -y -qq nginx-light >/dev/null)'], { timeout: 300_000 });
  return '/usr/sbin/nginx';
}

/** A one-process nginx config (no master, in the foreground) with its state in `dir`; `http` goes inside the http block. */
export function nginxConf(dir: string, http: string): string {
  return `worker_processes 1;
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
${http}
}
`;
}
