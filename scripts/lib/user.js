// The Beta 500 user, the one user of normal.js and spike.js. Each VU owns an account, created in setup
// with initialCredits, and runs one task per iteration, chosen by weight, then thinks for 1-3 s. Every
// charge and balance read goes through the ledger, and teardown audits every credit, so a run ends with a
// bookkeeping verdict as well as latency and error figures. A scenario file gives only what differs: its
// name (which names its thresholds file, thresholds/<name>.json) and its profile (the ramp to its peak).
//
// Tasks, by weight: balance 3, AI search 2, AI recommendations 1, three concurrent deductions 1,
// low-balance threshold check 1.

import exec from 'k6/execution';
import { check, sleep } from 'k6';
import ledger from 'k6/x/ledger';
import { configureLedger, load, rampingStages, thresholds } from './config.js';
import { Client, charge, chargeAll, readBalance } from './credit.js';
import { checkHealth, localVUs, openAll, provision, removeAll, runTag } from './accounts.js';
import { audit } from './audit.js';

const TASKS = [
  { weight: 3, name: 'balance', run: readBalanceTask },
  { weight: 2, name: 'ai_search', run: aiSearch },
  { weight: 1, name: 'ai_recommendations', run: aiRecommendations },
  { weight: 1, name: 'concurrent_deductions', run: concurrentDeductions },
  { weight: 1, name: 'threshold_check', run: thresholdCheck },
];
const TOTAL_WEIGHT = TASKS.reduce((s, t) => s + t.weight, 0);

// The checks of the tasks, built once: check calls each with the value it is given.
const BALANCE_READ = { 'balance read': (snap) => snap !== undefined };
const AI_SEARCH_CHARGED = { 'ai search charged': (o) => o === 'ok' };
const AI_RECOMMENDATIONS_CHARGED = { 'ai recommendations charged': (o) => o === 'ok' };
const DEDUCTION_CHARGED = { 'concurrent deduction charged': (o) => o === 'ok' };

function readBalanceTask(api, acct) {
  const { snap } = readBalance(api, ledger, acct);
  check(snap, BALANCE_READ);
}

function aiSearch(api, acct) {
  const f = api.cfg.features.aiSearch;
  const { outcome } = charge(api, ledger, acct, f, api.price(f, 1));
  check(outcome, AI_SEARCH_CHARGED);
}

function aiRecommendations(api, acct) {
  const f = api.cfg.features.aiRecommendations;
  const { outcome } = charge(api, ledger, acct, f, api.price(f, 1));
  check(outcome, AI_RECOMMENDATIONS_CHARGED);
}

// concurrentDeductions fires three deductions of 5 credits at once on the same account.
function concurrentDeductions(api, acct) {
  const f = api.cfg.features.deduct;
  const amount = api.price(f, Math.max(1, Math.round(5 / api.cfg.rates[f])));
  const charges = [0, 1, 2].map(() => ({ feature: f, amount }));
  // One check per request (not one for the three), so checks and http_req_failed agree.
  for (const { outcome } of chargeAll(api, ledger, acct, charges)) check(outcome, DEDUCTION_CHARGED);
}

// thresholdCheck checks that the low-balance flags agree with the balance, and that each notice kind
// appears at most once.
function thresholdCheck(api, acct) {
  const { snap } = readBalance(api, ledger, acct);
  const notes = api.notices(api.send(api.notificationsReq(acct)));
  const low = api.cfg.lowThreshold;
  check(snap, {
    'threshold flags match balance': (s) => {
      if (s === undefined) return false;
      if (s.balance > low) return !s.lowNotified && !s.depletedNotified;
      return s.balance > 0 ? s.lowNotified === true : s.depletedNotified === true;
    },
  });
  check(notes, {
    'notices at most once per kind': (n) => {
      if (!n) return false;
      const seen = {};
      for (const x of n) {
        if (seen[x.kind]) return false;
        seen[x.kind] = true;
      }
      return true;
    },
  });
}

// oneTask runs one task, chosen by weight, on the VU's account.
function oneTask(api, acct) {
  let r = Math.random() * TOTAL_WEIGHT;
  for (const t of TASKS) {
    r -= t.weight;
    if (r < 0) return t.run(api, acct);
  }
  return TASKS[0].run(api, acct);
}

// betaUsers builds the scenario `name` run at the size of `profile` ({name, vus, rate, duration}: the peak,
// VUs started per second, seconds in all) with accounts named after `accountLabel`. It returns what the
// scenario file exports: {options, setup(), iteration(data), teardown(data)}. Call it in the init context.
export function betaUsers(name, accountLabel, profile) {
  const cfg = load();
  const api = new Client(cfg);
  configureLedger(ledger, cfg);

  const options = {
    scenarios: {},
    thresholds: thresholds(name),
    batchPerHost: 20, // setup and teardown send their requests 20 at a time
    setupTimeout: '5m',
    teardownTimeout: '10m',
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  };
  options.scenarios[name] = {
    executor: 'ramping-vus',
    startVUs: 0,
    stages: rampingStages(profile.vus, profile.rate, profile.duration),
    gracefulRampDown: '5s',
    gracefulStop: '5s',
  };

  // Every VU gets its own copy of the setup data, decoded from JSON; it holds the accounts' ids (strings:
  // decoding 150 of them costs a third of decoding 150 {id} objects) and the VU keeps only its own account,
  // so 1,000 VUs do not each hold every account of the run.
  let acct = null;

  return {
    options,

    setup() {
      checkHealth(api);
      const tag = runTag(ledger);
      const vus = localVUs(profile.vus);
      const accounts = provision(api, vus, cfg.initialCredits, tag, accountLabel);
      openAll(api, ledger, accounts);
      console.log(
        `${name} (${profile.name}): 0 -> ${vus} VUs at ${profile.rate}/s, ${profile.duration}s against ` +
          `${cfg.baseUrl}, ${accounts.length} accounts of run ${tag}`,
      );
      return { tag, ids: accounts.map((a) => a.id) };
    },

    iteration(data) {
      if (acct === null) {
        acct = { id: data.ids[(exec.vu.idInInstance - 1) % data.ids.length] };
        data.ids = null;
      }
      oneTask(api, acct);
      sleep(1 + Math.random() * 2);
    },

    teardown(data) {
      const accounts = data.ids.map((id) => ({ id }));
      const { report } = audit(api, ledger, accounts);
      console.log(`ledger verdict: ${report.verdict}`);
      removeAll(api, accounts);
    },
  };
}
