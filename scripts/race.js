// race.js: the race-condition stress. Many VUs hammer a small pool of shared accounts with bursts of five
// concurrent deductions (100-300 ms of think time), so deductions truly race each other on the same
// account, and drain each account down to the insufficient-funds boundary where overdraft and
// notification races live: once an account runs low, every burst also tries to take exactly the balance
// last seen (the deduct feature costs 1 credit per unit by default). A drained account is left behind for the next one of the same slot (the pool holds `pool`
// accounts at a time, `generations` deep). Balance reads are interleaved. Every deduction goes through the
// ledger with its own Idempotency-Key; at the end (teardown) unknown outcomes are replayed with the same
// key, closing snapshots, notices and the complete transaction logs go to the ledger, and it verifies
// every credit. Zero discrepancies is the bar; 402 is an expected answer here.
//
//   tally run scripts/race.js                            # full: 1,000 VUs at 50/s, 10 min
//   tally run -e PROFILE=full-200 scripts/race.js        # the 200-VU variant, 10 min
//   tally run -e PROFILE=quick scripts/race.js           # 200 VUs, 40 s (make run)
//
// Criteria: thresholds/race.json. Configuration: lib/config.js and docs/scenarios.md.

import http from 'k6/http';
import exec from 'k6/execution';
import { check, sleep } from 'k6';
import ledger from 'k6/x/ledger';
import { load } from './lib/config.js';
import { Client } from './lib/credit.js';
import { pick, rampingStages, thresholds } from './lib/profile.js';
import {
  checkHealth, firstInstance, localVUs, openAll, provision, removeAll, runTag, sharedDone, sharedSetup, sharedWaitOthers,
} from './lib/accounts.js';
import { audit, closeAndVerify, resolve } from './lib/audit.js';
import { configureLedger } from './lib/ledgerconf.js';

const cfg = load();
const api = new Client(cfg);

// vus: plateau; rate: VUs started per second; duration: seconds in all; pool: accounts raced on at a
// time; generations: accounts per pool slot, used one after the other as they drain; credits: opening
// balance of each account.
const P = pick({
  full: { vus: 1000, rate: 50, duration: 600, pool: 10, generations: 100, credits: 20000 },
  'full-200': { vus: 200, rate: 50, duration: 600, pool: 10, generations: 100, credits: 20000 },
  quick: { vus: 200, rate: 50, duration: 40, pool: 8, generations: 30, credits: 5000 },
  smoke: { vus: 40, rate: 20, duration: 12, pool: 4, generations: 20, credits: 600 },
});
const BURST = 5;
const READ_SHARE = 0.5; // iterations that read the balance after their burst

configureLedger(ledger, cfg);
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, cfg.insufficientStatus));

export const options = {
  scenarios: {
    race: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: rampingStages(P.vus, P.rate, P.duration),
      gracefulRampDown: '5s',
      gracefulStop: '5s',
    },
  },
  thresholds: thresholds('race'),
  batchPerHost: 20, // setup and teardown send their requests 20 at a time
  setupTimeout: '5m',
  teardownTimeout: '10m',
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

export function setup() {
  checkHealth(api);
  const tag = runTag(ledger);
  let accounts;
  if (cfg.sharedAccounts) { // every instance races on the same accounts (lib/accounts.js)
    accounts = sharedSetup(api, ledger, P.pool * P.generations, P.credits, 's');
  } else {
    accounts = provision(api, P.pool * P.generations, P.credits, tag, 'r');
    openAll(api, ledger, accounts);
  }
  const pool = Math.min(P.pool, accounts.length);
  console.log(
    `race (${P.name}): ${localVUs(P.vus)} VUs on ${pool} shared accounts at a time (${accounts.length} in all, ` +
      `${P.credits} credits each), bursts of ${BURST}, ${P.duration}s against ${cfg.baseUrl}, run ${tag}`,
  );
  return { tag, accounts, pool };
}

// Per-VU state: which generation of its slot the VU is draining, and, once the account runs low, the
// lowest balance seen (the next burst tries to take exactly that).
let gen = 0;
let finish = 0;

// Every VU gets its own copy of the setup data; it keeps only the accounts of its slot, so 1,000 VUs do
// not each hold every account and token of the run.
let mine = null;
function slotAccounts(data) {
  if (mine === null) {
    const slot = (exec.vu.idInInstance - 1) % data.pool;
    const generations = Math.floor(data.accounts.length / data.pool);
    mine = [];
    for (let g = 0; g < generations; g++) mine.push(data.accounts[g * data.pool + slot]);
    data.accounts = null;
  }
  return mine;
}

function randomCharge() {
  const f = cfg.features;
  const r = Math.random();
  if (r < 0.6) return { feature: f.deduct, amount: api.price(f.deduct, 1 + Math.floor(Math.random() * 5)) };
  if (r < 0.8) return { feature: f.aiSearch, amount: api.price(f.aiSearch, 1) };
  return { feature: f.aiRecommendations, amount: api.price(f.aiRecommendations, 1) };
}

export default function (data) {
  const accounts = slotAccounts(data);
  const generations = accounts.length;
  const acct = accounts[Math.min(gen, generations - 1)];

  const charges = [];
  const unit = cfg.rates[cfg.features.deduct];
  if (finish >= unit) {
    charges.push({ feature: cfg.features.deduct, amount: finish - (finish % unit) });
  }
  while (charges.length < BURST) charges.push(randomCharge());

  const ops = charges.map((c) => ledger.begin(acct.id, c));
  const res = http.batch(ops.map((op, i) => api.chargeReq(acct, charges[i].feature, charges[i].amount, op.id, op.key)));
  let low = Infinity;
  for (let i = 0; i < ops.length; i++) {
    const outcome = ledger.settleHttp(ops[i], res[i]);
    // One check per request, passing exactly when the request did not fail (http_req_failed), so the two
    // rates tell the same story: one dropped answer is one failed check, not a whole failed burst.
    const answered = outcome === 'ok' || outcome === 'insufficient';
    check(res[i], { 'charge answered (charged or refused)': () => answered });
    if (answered) {
      const r = api.remaining(res[i]);
      if (r !== undefined && r < low) low = r;
    }
  }

  if (Math.random() < READ_SHARE) {
    const rd = ledger.beginRead(acct.id);
    const r = api.send(api.balanceReq(acct));
    const snap = api.snapshot(r);
    ledger.settleRead(rd, snap || r);
    check(r, { 'balance read': () => snap !== undefined });
    if (snap && snap.balance < low) low = snap.balance;
  }

  // Balances only fall: the lowest one seen is the account's latest known state.
  if (low < unit) {
    finish = 0;
    if (gen < generations - 1) {
      gen++;
      return; // drained: move on at once
    }
  } else if (low !== Infinity && low < 10 * unit * BURST) {
    finish = low;
  } else {
    finish = 0;
  }
  sleep(0.1 + Math.random() * 0.2);
}

export function teardown(data) {
  if (cfg.sharedAccounts) {
    resolve(api, ledger, data.accounts);
    if (!firstInstance(ledger)) {
      sharedDone(api, ledger, 's');
      console.log('shared accounts: unknown outcomes resolved; the first instance closes the books (verify the journals together)');
      return;
    }
    const markers = sharedWaitOthers(api, ledger, 's');
    // This instance saw only its own requests on accounts every instance charged: its verdict alone would
    // be wrong, so it only records the closing state; tally ledger verify of every journal decides.
    const { drained } = closeAndVerify(api, ledger, data.accounts, true);
    console.log(`shared accounts: books closed (${drained} of ${data.accounts.length} drained to 0); the verdict is tally ledger verify of every instance's journal`);
    removeAll(api, data.accounts.concat(markers));
    return;
  }
  const { report, drained } = audit(api, ledger, data.accounts);
  console.log(`ledger verdict: ${report.verdict}; ${drained} of ${data.accounts.length} accounts drained to 0`);
  if (drained === data.accounts.length) {
    console.warn('every account was drained before the end: raise credits or generations in the profile for more races per account');
  }
  removeAll(api, data.accounts);
}
