/**
 * Micro-benchmark of the per-request header scan (src/proxy/headers.ts scanRequestHeaders):
 * ns per call on a typical browser-like header list. Not part of `npm run bench`; run with
 * `node --import tsx bench/micro/header-scan.ts [calls]`. Rounds alternate with a warm-up so
 * the figure is the optimised code's.
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
  const t = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) sink += scanRequestHeaders(RAW).out.length;
  return Number(process.hrtime.bigint() - t) / calls;
};
round(); // warm-up: the JIT's optimised code, not the interpreter
const figures = [round(), round(), round(), round(), round()].sort((a, b) => a - b);
process.stdout.write(`scanRequestHeaders: ${calls} calls x 5 rounds, ${RAW.length / 2} headers: median ${figures[2]?.toFixed(1)} ns/call (min ${figures[0]?.toFixed(1)}, max ${figures[4]?.toFixed(1)}) [${sink > 0 ? 'ok' : ''}]\n`);
