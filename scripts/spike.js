// spike.js: a sudden burst. VUs jump from 0 to 1,000 at 100 per second and stay for the rest of the
// 5 minutes, running the same user mix as normal.js (lib/mix.js) against their own accounts. The bar is
// graceful degradation: the service keeps answering (error rate < 5 %, p95 within the spike objective),
// does not crash, and still keeps its books straight.
//
//   tally run scripts/spike.js                                   # full: 1,000 VUs, 5 min
//   tally run -e PROFILE=quick scripts/spike.js
//
// Criteria: thresholds/spike.json. Configuration: lib/config.js and docs/scenarios.md.

import exec from 'k6/execution';
import { sleep } from 'k6';
import ledger from 'k6/x/ledger';
import { load } from './lib/config.js';
import { Client } from './lib/credit.js';
import { pick, rampingStages, thresholds } from './lib/profile.js';
import { checkHealth, localVUs, openAll, provision, removeAll, runTag } from './lib/accounts.js';
import { audit } from './lib/audit.js';
import { configureLedger } from './lib/ledgerconf.js';
import { userIteration } from './lib/mix.js';

const cfg = load();
const api = new Client(cfg);

// vus: peak; rate: VUs started per second; duration: seconds in all (ramp included).
const P = pick({
  full: { vus: 1000, rate: 100, duration: 300 },
  quick: { vus: 200, rate: 100, duration: 40 },
  smoke: { vus: 60, rate: 30, duration: 10 },
});

configureLedger(ledger, cfg);

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: rampingStages(P.vus, P.rate, P.duration),
      gracefulRampDown: '5s',
      gracefulStop: '5s',
    },
  },
  thresholds: thresholds('spike'),
  batchPerHost: 20, // setup and teardown send their requests 20 at a time
  setupTimeout: '5m',
  teardownTimeout: '10m',
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

export function setup() {
  checkHealth(api);
  const tag = runTag(ledger);
  const accounts = provision(api, localVUs(P.vus), cfg.initialCredits, tag, 's');
  openAll(api, ledger, accounts);
  console.log(`spike (${P.name}): 0 -> ${localVUs(P.vus)} VUs at ${P.rate}/s, ${P.duration}s against ${cfg.baseUrl}, run ${tag}`);
  return { tag, accounts };
}

// Every VU gets its own copy of the setup data; it keeps only its own account (see normal.js).
let acct = null;

export default function (data) {
  if (acct === null) {
    acct = data.accounts[(exec.vu.idInInstance - 1) % data.accounts.length];
    data.accounts = null;
  }
  userIteration(api, ledger, acct);
  sleep(1 + Math.random() * 2);
}

export function teardown(data) {
  const { report } = audit(api, ledger, data.accounts);
  console.log(`ledger verdict: ${report.verdict}`);
  removeAll(api, data.accounts);
}
