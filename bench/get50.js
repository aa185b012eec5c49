// Throughput of the generator itself: every VU fetches the balance as fast as
// it can (one request per iteration, no think time) from a local server.
import http from 'k6/http';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:18300';
const token = 'mock-token-bench';

export const options = {
  scenarios: {
    get: { executor: 'constant-vus', vus: Number(__ENV.VUS || 50), duration: __ENV.DURATION || '20s' },
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)'],
};

const params = { headers: { Authorization: `Bearer ${token}` } };

export default function () {
  http.get(`${BASE}/api/v1/beta/credits/balance`, params);
}
