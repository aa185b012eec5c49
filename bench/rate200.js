// A fixed arrival rate of balance GETs (200 per second by default) against bench/stubserver, to compare
// the latency tally reports with the server's own handler time (bench/latency.sh, `make bench-latency`).
import http from 'k6/http';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:18300';

export const options = {
  scenarios: {
    rate: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 200),
      timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: 20,
      maxVUs: 200,
    },
  },
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'avg'],
};

export default function () {
  http.get(`${BASE}/api/v1/beta/credits/balance`, { headers: { Authorization: 'Bearer mock-token-bench' } });
}
