/**
 * Micro-benchmark of the per-request header scan (src/proxy/headers.ts scanRequestHeaders):
 * ns per call on a typical browser-like header list. Not part of `npm run bench`; run with
 * `node --import tsx bench/micro/header-scan.ts [calls]`. After a warm-up round (the figure is
 * the optimised code's), the median of 9 rounds in CPU time (process.cpuUsage), which a
 * loaded shared machine inflates far less than wall time.
 */
import { scanRequestHeaders } from '../../src/proxy/headers.js';

const RAW: readonly string[] = [
  'Host', 'api.shop.example',
  'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
  'Accept', 'application/json, text/plain, */*',
  'Accept-Language', 'en-GB,en;q=0.9',
  'Accept-Encoding', 'gzip, deflate, br',
  'Connection', 'keep-alive',
  'Cookie', 'session=abc123; theme=dark',
  'Authorization', 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x',
  'X-Forwarded-For', '198.51.100.7',
  'Content-Type', 'application/json',
  'Content-Length', '42',
  'Sec-Fetch-Mode', 'cors',
];

const calls = Number(process.argv[2] ?? 1_000_000);
let sink = 0;
const round = (): number => {
  const t = process.cpuUsage();
  for (let i = 0; i < calls; i++) sink += scanRequestHeaders(RAW).out.length;
  const used = process.cpuUsage(t);
  return ((used.user + used.system) * 1000) / calls;
};
round(); // warm-up: the JIT's optimised code, not the interpreter
const figures = Array.from({ length: 9 }, round).sort((a, b) => a - b);
process.stdout.write(`scanRequestHeaders: ${calls} calls x 9 rounds, ${RAW.length / 2} headers: median ${figures[4]?.toFixed(1)} ns/call CPU (min ${figures[0]?.toFixed(1)}, max ${figures[8]?.toFixed(1)}) [${sink > 0 ? 'ok' : ''}]\n`);
