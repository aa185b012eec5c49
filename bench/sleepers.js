// sleepers.js: the skeleton of normal.js quick without its requests: 150 VUs ramped in 15 s and held for
// 25 s, each iteration only a sleep of 1-3 s (normal.js's think time). The CPU of this run is what a run of
// that shape costs before any request, JS task or ledger: docs/benchmarks.md, "Scripts: CPU per request".
//
//   /usr/bin/time -f '%U user %S sys' tally run -q --summary-mode disabled bench/sleepers.js
import { sleep } from 'k6';

export const options = {
  scenarios: {
    sleepers: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [{ duration: '15s', target: 150 }, { duration: '25s', target: 150 }],
      gracefulRampDown: '5s',
    },
  },
};

export default function () {
  sleep(1 + Math.random() * 2);
}
