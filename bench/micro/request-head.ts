/**
 * Micro-benchmark of the upstream request head (src/upstream/http1/request-head.ts): ns per
 * call on a browser-like header list, with every entry checked and with the entries the
 * engine's strict parser produced skipped (`checkedHeaders`, as the gateway sends them). Not
 * part of `npm run bench`; run with `node --import tsx bench/micro/request-head.ts [calls]`.
 * After a warm-up round, the median of 9 rounds in CPU time (process.cpuUsage).
 */
import { requestHead } from '../../src/upstream/http1/request-head.js';

const HEADERS: readonly string[] = [
  'host', 'api.shop.example',
  'user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
  'accept', 'application/json, text/plain, */*',
  'accept-language', 'en-GB,en;q=0.9',
  'accept-encoding', 'gzip, deflate, br',
  'cookie', 'session=abc123; theme=dark',
  'authorization', 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x',
  'sec-fetch-mode', 'cors',
  // Added by the gateway after the client's headers: checked in both cases.
  'x-forwarded-for', '198.51.100.7',
  'x-forwarded-proto', 'http',
  'x-request-id', 'gw1-00000001',
];
const FROM_PARSER = 16; // the client's eight headers

const calls = Number(process.argv[2] ?? 1_000_000);
const framing = { contentLength: -1, chunked: false, close: false };
let sink = 0;
const round = (checkedHeaders: number): number => {
  const req = { method: 'GET', path: '/api/items?page=2', headers: HEADERS, body: null, checkedHeaders };
  const t = process.cpuUsage();
  for (let i = 0; i < calls; i++) sink += requestHead(req, 'upstream:8080', framing).length;
  const used = process.cpuUsage(t);
  return ((used.user + used.system) * 1000) / calls;
};
for (const [label, checked] of [['every entry checked', 0], [`first ${FROM_PARSER} entries from the parser`, FROM_PARSER]] as const) {
  round(checked); // warm-up: the JIT's optimised code, not the interpreter
  const figures = Array.from({ length: 9 }, () => round(checked)).sort((a, b) => a - b);
  process.stdout.write(`requestHead, ${label}: ${calls} calls x 9 rounds, ${HEADERS.length / 2} headers: median ${figures[4]?.toFixed(1)} ns/call CPU (min ${figures[0]?.toFixed(1)}, max ${figures[8]?.toFixed(1)}) [${sink > 0 ? 'ok' : ''}]\n`);
}
