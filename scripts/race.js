// race.js: the race-condition stress test. Many VUs share a small pool of accounts and charge them in
// bursts of five deductions sent at the same moment, so that deductions truly race each other on the same
// account. Half of the iterations also read the balance; each VU thinks for 100-300 ms between bursts.
//
// Every account is driven to exactly 0, the boundary where overdraft and notification races live. Once a
// VU has seen its account run low, each of its bursts also tries to take exactly the lowest balance seen.
// (The deduct feature costs 1 credit per unit by default, so any balance can be taken to the credit.)
// A VU that sees its account empty moves on at once to the next account of its slot: the pool holds
// `pool` accounts at a time, and each slot has `generations` accounts to drain one after the other.
//
// Every deduction goes through the ledger with its own Idempotency-Key. At the end (teardown), unknown
// outcomes are replayed with the same key; the closing balances, the notices and the complete transaction
// logs go to the ledger, which verifies every credit. Zero discrepancies is the bar. A refusal for
// insufficient credits (402 by default) is an expected answer here, not a failed request.
//
//   tally run scripts/race.js                            # full: 1,000 VUs, 10 min
//   tally run -e PROFILE=full-200 scripts/race.js        # the 200-VU variant, 10 min
//   tally run -e PROFILE=quick scripts/race.js           # 200 VUs, 40 s (make run)
//
// Criteria: thresholds/race.json. Configuration: lib/config.js and docs/scenarios.md.

import http from 'k6/http';
import exec from 'k6/execution';
import { check, sleep } from 'k6';
import ledger from 'k6/x/ledger';
import { Client, answered, chargeAll, readBalance } from './lib/credit.js';
// The modules of init, setup and teardown are imported whole: evaluated as ES modules (tally's plain form
// has no such cost), every named import is a function object in every VU (sobek's import binding, ~0.65 KiB
// each), and 1,000 VUs run only the iteration's functions.
import * as config from './lib/config.js';
import * as accounts from './lib/accounts.js';
import * as books from './lib/audit.js';

const cfg = config.load();
const api = new Client(cfg);

// The size of the run, chosen with PROFILE. vus: VUs at the plateau; rate: VUs started per second;
// duration: seconds in all, ramp included; pool: accounts raced on at a time; generations: accounts per
// pool slot, drained one after the other; credits: the opening balance of every account.
const PROFILES = {
  full: { vus: 1000, rate: 50, duration: 600, pool: 10, generations: 100, credits: 20000 },
  'full-200': { vus: 200, rate: 50, duration: 600, pool: 10, generations: 100, credits: 20000 },
  quick: { vus: 200, rate: 50, duration: 40, pool: 8, generations: 30, credits: 5000 },
  smoke: { vus: 40, rate: 20, duration: 12, pool: 4, generations: 20, credits: 600 },
};
const profile = config.pick(PROFILES);
// A run made longer with DURATION gets generations in proportion, so that it keeps racing on fresh
// accounts to the end instead of sending its bursts to drained ones; the accounts grow with the
// duration, not the history of each (which is what the ledger's verification holds in memory at once:
// an hour at full size on 10 x 100 accounts left 10 of them with 1.2 million refused deductions each).
const longer = profile.duration / PROFILES[profile.name].duration;
if (longer > 1) profile.generations = Math.ceil(profile.generations * longer);
const BURST = 5; // deductions sent at once in every iteration
const READ_SHARE = 0.5; // the share of iterations that read the balance after their burst
const DRAIN_FEATURE = cfg.features.deduct; // charged by units, so it can take a given balance exactly
const UNIT = api.price(DRAIN_FEATURE, 1); // credits per unit of DRAIN_FEATURE
const LOW = 10 * UNIT * BURST; // under this balance, an account is "running low": drain it

config.configureLedger(ledger, cfg);
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, cfg.insufficientStatus));

export const options = {
  scenarios: {
    race: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: config.rampingStages(profile.vus, profile.rate, profile.duration),
      gracefulRampDown: '5s',
      gracefulStop: '5s',
    },
  },
  thresholds: config.thresholds('race'),
  batchPerHost: 20, // setup and teardown send their requests 20 at a time
  setupTimeout: '5m',
  teardownTimeout: '10m',
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

export function setup() {
  accounts.checkHealth(api);
  const tag = accounts.runTag(ledger);
  const count = profile.pool * profile.generations;
  let list;
  if (cfg.sharedAccounts) { // every instance races on the same accounts (lib/accounts.js)
    list = accounts.sharedSetup(api, ledger, count, profile.credits, 's');
  } else {
    list = accounts.provision(api, count, profile.credits, tag, 'r');
    accounts.openAll(api, ledger, list);
  }
  const pool = Math.min(profile.pool, list.length);
  const derived = !cfg.sharedAccounts && cfg.testEndpoints && list.length === count;
  console.log(
    `race (${profile.name}): ${accounts.localVUs(profile.vus)} VUs on ${pool} shared accounts at a time ` +
      `(${list.length} in all, ${profile.credits} credits each), bursts of ${BURST}, ` +
      `${profile.duration}s against ${cfg.baseUrl}, run ${tag}`,
  );
  // The accounts' names follow from their index when setup created them: the setup data (a copy of which
  // every VU decodes) then carries the rule, not thousands of names.
  if (derived) return { tag, pool, count, prefix: accounts.accountPrefix(cfg, tag, 'r') };
  return { tag, pool, ids: list.map((a) => a.id) };
}

// accountIds returns the ids of the run's accounts, in index order.
function accountIds(data) {
  if (data.ids) return data.ids;
  const ids = [];
  for (let i = 0; i < data.count; i++) ids.push(`${data.prefix}${i}`);
  return ids;
}

// What each VU remembers between iterations.
let slot = null; // the ids of the accounts of the VU's pool slot, in the order they are drained
let current = null; // the account being drained, {id}
let generation = 0; // the index in `slot` of the account the VU is draining now
let balanceToTake = 0; // once the account runs low: the lowest balance seen, which the next burst takes

// The VU's slot: VU v works on slot (v - 1) mod pool, whose accounts are those of index
// g * pool + slot for generation g. Every VU gets its own copy of the setup data, decoded from JSON. When
// the names follow from the index (setup created the accounts) the VU builds the name of the account it
// drains now and holds no list; otherwise it keeps its slot's ids only (strings, not {id} objects), so
// 1,000 VUs do not each hold every account of the run.
let slotIndex = -1;
let generations = 0; // accounts in the VU's slot

function slotIds(data) {
  if (slotIndex < 0) {
    slotIndex = (exec.vu.idInInstance - 1) % data.pool;
    const count = data.ids ? data.ids.length : data.count;
    generations = Math.floor(count / data.pool);
    if (data.ids) {
      slot = [];
      for (let g = 0; g < generations; g++) slot.push(data.ids[g * data.pool + slotIndex]);
      data.ids = null;
    }
  }
  return slot;
}

// currentAccount returns the account the VU drains now, built once per generation.
function currentAccount(data, ids) {
  const id = ids ? ids[generation] : `${data.prefix}${generation * data.pool + slotIndex}`;
  if (current === null || current.id !== id) current = { id };
  return current;
}

// randomCharge is one charge of the usual traffic: 60 % deduct of 1-5 units, 20 % AI search, 20 % AI
// recommendations.
function randomCharge() {
  const f = cfg.features;
  const r = Math.random();
  if (r < 0.6) return { feature: f.deduct, amount: api.price(f.deduct, 1 + Math.floor(Math.random() * 5)) };
  if (r < 0.8) return { feature: f.aiSearch, amount: api.price(f.aiSearch, 1) };
  return { feature: f.aiRecommendations, amount: api.price(f.aiRecommendations, 1) };
}

// nextBurst is the charges of one burst: the whole balance left (in whole units) when the account runs
// low, then random charges up to BURST. (charges[i] = v: Array.prototype.push is a native call each.)
function nextBurst() {
  const charges = [];
  let i = 0;
  if (balanceToTake >= UNIT) {
    charges[i++] = { feature: DRAIN_FEATURE, amount: balanceToTake - (balanceToTake % UNIT) };
  }
  while (i < BURST) charges[i++] = randomCharge();
  return charges;
}

// The checks of an iteration, built once: check calls each with the value it is given.
const CHARGE_ANSWERED = { 'charge answered (charged or refused)': (ok) => ok };
const BALANCE_READ = { 'balance read': (snap) => snap !== undefined };

export default function (data) {
  const acct = currentAccount(data, slotIds(data));

  // One check per request, passing exactly when the request did not fail (http_req_failed), so the two
  // rates tell the same story: one dropped answer is one failed check, not a whole failed burst.
  let lowest = Infinity;
  const results = chargeAll(api, ledger, acct, nextBurst());
  for (let i = 0; i < results.length; i++) {
    const ok = answered(results[i].outcome);
    check(ok, CHARGE_ANSWERED);
    const left = ok ? api.remaining(results[i].res) : undefined;
    if (left !== undefined && left < lowest) lowest = left;
  }
  if (Math.random() < READ_SHARE) {
    const snap = readBalance(api, ledger, acct).snap;
    check(snap, BALANCE_READ);
    if (snap && snap.balance < lowest) lowest = snap.balance;
  }

  // Balances only fall, so the lowest one seen is the account's latest known state.
  if (lowest < UNIT) { // empty: nothing more can be taken from it
    balanceToTake = 0;
    if (generation < generations - 1) {
      generation++;
      return; // on to the next account of the slot at once
    }
  } else {
    balanceToTake = lowest < LOW ? lowest : 0;
  }
  sleep(0.1 + Math.random() * 0.2);
}

export function teardown(data) {
  const list = accountIds(data).map((id) => ({ id }));
  if (cfg.sharedAccounts) {
    teardownShared(list);
    return;
  }
  const { report, drained } = books.audit(api, ledger, list);
  const all = list.length;
  console.log(`ledger verdict: ${report.verdict}; ${drained} of ${all} accounts drained to 0`);
  if (drained === all) {
    console.warn(
      'every account was drained before the end: ' +
        'raise credits or generations in the profile for more races per account',
    );
  }
  accounts.removeAll(api, list);
}

// teardownShared ends a run in which every instance raced on the same accounts: each instance resolves
// its own unknown outcomes, then the first one closes the books once the others are done. No instance
// verifies: each saw only its own requests on accounts all of them charged, so its verdict alone would be
// wrong. tally ledger verify of every instance's journal decides.
function teardownShared(list) {
  books.resolve(api, ledger, list);
  if (!accounts.firstInstance(ledger)) {
    accounts.sharedDone(api, ledger, 's');
    console.log(
      'shared accounts: unknown outcomes resolved; the first instance closes the books ' +
        '(verify the journals together)',
    );
    return;
  }
  const markers = accounts.sharedWaitOthers(api, ledger, 's');
  const { drained } = books.closeAndVerify(api, ledger, list, true);
  console.log(
    `shared accounts: books closed (${drained} of ${list.length} drained to 0); ` +
      "the verdict is tally ledger verify of every instance's journal",
  );
  accounts.removeAll(api, list.concat(markers));
}
