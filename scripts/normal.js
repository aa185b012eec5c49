// normal.js: the Beta 500 normal load. VUs ramp to the plateau at 10 per second and stay there; each owns
// an account (5,000 credits, created in setup) and runs the weighted user mix (lib/mix.js) with 1-3 s of
// think time. Every charge and read goes through the ledger, so the run ends with a bookkeeping verdict as
// well as latency and error figures. A 402 here is a red flag: no account comes near empty.
//
//   tally run scripts/normal.js                                  # full: 500 VUs, 15 min
//   tally run -e PROFILE=quick -e BASE_URL=http://127.0.0.1:8000 scripts/normal.js
//
// Criteria: thresholds/normal.json. Configuration: lib/config.js and docs/scenarios.md.

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

// vus: plateau; rate: VUs started per second; duration: seconds in all (ramp included).
const P = pick({
  full: { vus: 500, rate: 10, duration: 900 },
  quick: { vus: 150, rate: 10, duration: 40 },
  smoke: { vus: 30, rate: 10, duration: 12 },
  soak: { vus: 500, rate: 10, duration: 1800 }, // make soak: the full load for 30 minutes
});

configureLedger(ledger, cfg);

export const options = {
  scenarios: {
    normal: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: rampingStages(P.vus, P.rate, P.duration),
      gracefulRampDown: '5s',
      gracefulStop: '5s',
    },
  },
  thresholds: thresholds('normal'),
  batchPerHost: 20, // setup and teardown send their requests 20 at a time
  setupTimeout: '5m',
  teardownTimeout: '10m',
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

export function setup() {
  checkHealth(api);
  const tag = runTag(ledger);
  const accounts = provision(api, localVUs(P.vus), cfg.initialCredits, tag, 'n');
  openAll(api, ledger, accounts);
  console.log(`normal (${P.name}): ${localVUs(P.vus)} VUs for ${P.duration}s against ${cfg.baseUrl}, ${accounts.length} accounts of run ${tag}`);
  return { tag, accounts };
}

// Every VU gets its own copy of the setup data; it keeps only its own account, so 500 VUs do not each
// hold every account and token of the run.
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
