// A 100-line k6 script used to measure VU start-up time and memory per VU:
// the Beta 500 task mix against a local server, with think time.
import http from 'k6/http';
import { check, group, sleep } from 'k6';
import { Counter, Trend, Rate } from 'k6/metrics';
import exec from 'k6/execution';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8000';
const VUS = Number(__ENV.VUS || 1000);
const DURATION = __ENV.DURATION || '20s';
const THINK = Number(__ENV.THINK ?? 1); // seconds of sleep per iteration; 0 for throughput runs

const charged = new Counter('bench_credits_charged');
const balanceLatency = new Trend('bench_balance_latency', true);
const ok = new Rate('bench_ok');

export const options = {
  scenarios: {
    mix: { executor: 'constant-vus', vus: VUS, duration: DURATION, gracefulStop: '5s' },
  },
  summaryTrendStats: ['avg', 'p(95)', 'max'],
};

const FEATURES = [
  { name: 'ai_search', path: '/api/v1/beta/ai-search', cost: 5, weight: 2 },
  { name: 'ai_recommendations', path: '/api/v1/beta/ai-recommendations', cost: 3, weight: 1 },
];

function headers(token) {
  return { headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } };
}

function pickTask() {
  const r = Math.random() * 8;
  if (r < 3) return 'balance';
  if (r < 5) return 'search';
  if (r < 6) return 'recommend';
  if (r < 7) return 'deduct3';
  return 'threshold';
}

function balance(token) {
  const res = http.get(`${BASE}/api/v1/beta/credits/balance`, headers(token));
  balanceLatency.add(res.timings.duration);
  ok.add(res.status === 200);
  check(res, { 'balance 200': (r) => r.status === 200 });
  return res;
}

function search(token) {
  const f = FEATURES[0];
  const res = http.post(`${BASE}${f.path}`, JSON.stringify({ query: 'q', limit: 5 }), headers(token));
  if (res.status === 200) charged.add(f.cost);
  ok.add(res.status === 200 || res.status === 402);
  return res;
}

function recommend(token) {
  const f = FEATURES[1];
  const res = http.get(`${BASE}${f.path}?limit=5`, headers(token));
  if (res.status === 200) charged.add(f.cost);
  ok.add(res.status === 200 || res.status === 402);
  return res;
}

function deductThree(token, user) {
  const body = JSON.stringify({ user_id: user, feature: 'ai_search', usage_amount: 1, metadata: {} });
  const reqs = [1, 2, 3].map(() => ['POST', `${BASE}/api/v1/beta/credits/deduct`, body, headers(token)]);
  const responses = http.batch(reqs);
  for (const r of responses) {
    ok.add(r.status === 200 || r.status === 402);
    if (r.status === 200) charged.add(5);
  }
  return responses;
}

function thresholdCheck(token) {
  const res = balance(token);
  const remaining = res.status === 200 ? res.json('remaining_credits') : 0;
  check(remaining, { 'balance is a number': (v) => typeof v === 'number' });
}

export default function () {
  const user = `bench-${exec.vu.idInTest}`;
  const token = `mock-token-${user}`;
  const task = pickTask(); // one draw: the group is named after the task it runs
  group(task, () => {
    switch (task) {
      case 'balance': balance(token); break;
      case 'search': search(token); break;
      case 'recommend': recommend(token); break;
      case 'deduct3': deductThree(token, user); break;
      default: thresholdCheck(token);
    }
  });
  if (THINK > 0) sleep(THINK);
}
