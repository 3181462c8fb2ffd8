// k6: the steady load of chaos/client.ts through a region outage, for a real deployment.
//
//   k6 run -e TARGET=api.shop.example -e APIKEY=demo-key chaos/k6/region-outage.js
//
// Three phases, timed from the start: WARMUP (default 60 s) healthy; FAULT (default 120 s):
// take a whole region's gateways down when the script says so (docker compose stop
// gateway-east-1 gateway-east-2; kubectl -n meridian scale deploy/meridian-gateway
// --replicas=0 in that region; or cut the region off the network); AFTER (default 120 s):
// bring it back. The thresholds say what Meridian promises: failures are confined to the
// first seconds of the fault (DNS TTL 5 s + prober fall count), the client's one retry
// hides most of them, and after recovery nothing fails.
//
// Name resolution is the operating system's (see steady.js): k6 caches nothing (dns.ttl 0).
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { Rate } from 'k6/metrics';

const TARGET = __ENV.TARGET || 'api.shop.example';
const PORT = __ENV.PORT || '80';
const PATH = __ENV.ROUTE_PATH || '/echo';
const APIKEY = __ENV.APIKEY || 'demo-key';
const RATE = Number(__ENV.RATE || 100);
const WARMUP_S = Number(__ENV.WARMUP_S || 60);
const FAULT_S = Number(__ENV.FAULT_S || 120);
const AFTER_S = Number(__ENV.AFTER_S || 120);

export const clientFailed = new Rate('client_failed');

export const options = {
  dns: { ttl: '0', select: 'random', policy: 'preferIPv4' },
  scenarios: {
    steady: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: `${WARMUP_S + FAULT_S + AFTER_S}s`,
      preAllocatedVUs: 16,
      maxVUs: 128,
    },
  },
  thresholds: {
    'http_req_failed{phase:warmup}': ['rate<0.001'],
    // During the outage some first attempts fail until resolvers see the new answer.
    'http_req_failed{phase:fault}': ['rate<0.05'],
    'http_req_failed{phase:after}': ['rate<0.001'],
    // What a client with one retry sees.
    'client_failed{phase:fault}': ['rate<0.01'],
    'client_failed{phase:after}': ['rate<0.001'],
  },
};

http.setResponseCallback(http.expectedStatuses({ min: 200, max: 499 }));

function phase() {
  const s = (Date.now() - exec.scenario.startTime) / 1000;
  return s < WARMUP_S ? 'warmup' : s < WARMUP_S + FAULT_S ? 'fault' : 'after';
}

export function setup() {
  console.log(`region outage: take a region's gateways down at +${WARMUP_S}s, bring them back at +${WARMUP_S + FAULT_S}s`);
}

export default function () {
  const p = phase();
  const params = { headers: { apikey: APIKEY }, timeout: '2s', tags: { phase: p, name: 'outage' } };
  const url = `http://${TARGET}:${PORT}${PATH}`;
  let res = http.get(url, params);
  if (res.status === 0) res = http.get(url, Object.assign({}, params, { tags: { phase: p, name: 'outage-retry' } }));
  const ok = res.status > 0 && res.status < 500;
  clientFailed.add(!ok, { phase: p });
  check(res, { 'answered below 500': () => ok }, { phase: p });
}
