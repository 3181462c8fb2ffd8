import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoadResult {
  requestsPerSec: number;
  requests: number;
  errors: number;
  non2xx: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

// wrk's Lua done() hook prints exact percentiles as JSON (its text output rounds them).
const REPORT_LUA = `
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,"p50":%f,"p90":%f,"p99":%f,"max":%f,"mean":%f}\\n',
    summary.requests, summary.duration, errors, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
`;

const scripts = new Map<string, string>();
/** The report hook, plus the caller's own Lua (a `request` function) when given; one file each. */
function reportScript(extraLua = ''): string {
  let path = scripts.get(extraLua);
  if (!path) {
    path = join(mkdtempSync(join(tmpdir(), 'meridian-wrk-')), 'report.lua');
    writeFileSync(path, `${REPORT_LUA}\n${extraLua}\n`);
    scripts.set(extraLua, path);
  }
  return path;
}

/**
 * Runs wrk against a loopback URL. `headers` are sent with every request; `requestLua` is wrk
 * Lua defining `request()` for requests that differ (it then builds the headers itself).
 */
export async function wrk(url: string, options: { threads?: number; connections?: number; durationS?: number; headers?: Record<string, string>; requestLua?: string } = {}): Promise<LoadResult> {
  const u = new URL(url);
  if (!/^(127\.|localhost$|\[::1\]$)/.test(u.hostname)) throw new Error(`refusing to load a non-loopback address: ${u.hostname}`);
  const args = ['-t', String(options.threads ?? 1), '-c', String(options.connections ?? 50), '-d', `${options.durationS ?? 5}s`, '--latency', '-s', reportScript(options.requestLua)];
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const { stdout } = await run('wrk', args, { timeout: ((options.durationS ?? 5) + 30) * 1000, maxBuffer: 4 * 1024 * 1024 });
  const line = stdout.split('\n').find((l) => l.startsWith('WRKJSON '));
  if (!line) throw new Error(`wrk printed no report: ${stdout.slice(0, 500)}`);
  const j = JSON.parse(line.slice(8)) as { requests: number; duration_us: number; errors: number; non2xx: number; p50: number; p90: number; p99: number; max: number; mean: number };
  return {
    requests: j.requests,
    requestsPerSec: j.requests / (j.duration_us / 1e6),
    errors: j.errors,
    non2xx: j.non2xx,
    latencyMs: { p50: j.p50 / 1000, p90: j.p90 / 1000, p99: j.p99 / 1000, max: j.max / 1000, mean: j.mean / 1000 },
  };
}

/** Ensures wrk is installed (Debian package), installing it when root and apt-get are there. */
export async function ensureWrk(): Promise<void> {
  try {
    await run('wrk', ['--version']).catch((e: { stdout?: string }) => {
      if (!String(e.stdout ?? '').includes('wrk')) throw e;
    });
  } catch {
    await run('bash', ['-c', 'apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null)'], { timeout: 300_000 });
  }
}
