// k6: the steady load of chaos/client.ts (SteadyLoad + SdkClient) against a real deployment.
//
//   k6 run -e TARGET=api.shop.example -e APIKEY=demo-key chaos/k6/steady.js
//
// Same shape as `npm run chaos`'s client: RATE requests/s (default 100) from 16 concurrent
// loops, GET http://TARGET:PORT/PATH with the demo consumer's key, a 2 s timeout, a request
// that fails on the connection retried once (re-resolving), anything below 500 counted ok.
// Name resolution is the operating system's: point the machine's resolver at Meridian DNS (or
// delegate the zone); k6 keeps no DNS cache of its own here (dns.ttl 0), so the resolver's
// cache, which honours the TTL Meridian answers with (5 s), decides when a failover is seen,
// as it would for a real client.
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';

const TARGET = __ENV.TARGET || 'api.shop.example';
const PORT = __ENV.PORT || '80';
const PATH = __ENV.ROUTE_PATH || '/echo';
const APIKEY = __ENV.APIKEY || 'demo-key';
const RATE = Number(__ENV.RATE || 100);
const DURATION = __ENV.DURATION || '5m';

/** Failures after the one retry: what a user of an SDK-like client would see. */
export const clientFailed = new Rate('client_failed');

export const options = {
  dns: { ttl: '0', select: 'random', policy: 'preferIPv4' },
  scenarios: {
    steady: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: 16,
      maxVUs: 64,
    },
  },
  thresholds: {
    // Steady state on a healthy deployment: (almost) nothing fails, even before the retry.
    http_req_failed: ['rate<0.001'],
    client_failed: ['rate<0.001'],
    http_req_duration: ['p(99)<500'],
  },
};

// Like chaos/client.ts: an answer below 500 is a success (401/404 are the API's, not the gateway's fault).
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 499 }));

const params = { headers: { apikey: APIKEY }, timeout: '2s', tags: { name: 'steady' } };

export default function () {
  const url = `http://${TARGET}:${PORT}${PATH}`;
  let res = http.get(url, params);
  // Status 0: the connection failed (refused, reset, timed out): retry once, on a new connection.
  if (res.status === 0) res = http.get(url, Object.assign({}, params, { tags: { name: 'steady-retry' } }));
  const ok = res.status > 0 && res.status < 500;
  clientFailed.add(!ok);
  check(res, { 'answered below 500': () => ok });
}
