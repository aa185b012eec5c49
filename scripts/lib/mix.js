// The Beta 500 user: one weighted task per iteration, every charge and balance read recorded in the ledger.
// Weights: balance 3, AI search 2, AI recommendations 1, three concurrent deductions 1, low-balance
// threshold check 1. normal.js and spike.js share it.

import { check } from 'k6';
import { charge, chargeAll, readBalance } from './ops.js';

const TASKS = [
  {
    weight: 3,
    name: 'balance',
    run(api, ledger, acct) {
      const { res, snap } = readBalance(api, ledger, acct);
      check(res, { 'balance read': () => snap !== undefined });
    },
  },
  {
    weight: 2,
    name: 'ai_search',
    run(api, ledger, acct) {
      const f = api.cfg.features.aiSearch;
      const { outcome } = charge(api, ledger, acct, f, api.price(f, 1));
      check(outcome, { 'ai search charged': (o) => o === 'ok' });
    },
  },
  {
    weight: 1,
    name: 'ai_recommendations',
    run(api, ledger, acct) {
      const f = api.cfg.features.aiRecommendations;
      const { outcome } = charge(api, ledger, acct, f, api.price(f, 1));
      check(outcome, { 'ai recommendations charged': (o) => o === 'ok' });
    },
  },
  {
    weight: 1,
    name: 'concurrent_deductions',
    run(api, ledger, acct) {
      // Three deductions of 5 credits fired at once on the same account.
      const f = api.cfg.features.deduct;
      const amount = api.price(f, Math.max(1, Math.round(5 / api.cfg.rates[f])));
      const charges = [0, 1, 2].map(() => ({ feature: f, amount }));
      // One check per request (not one for the three), so checks and http_req_failed agree.
      for (const { res, outcome } of chargeAll(api, ledger, acct, charges)) {
        check(res, { 'concurrent deduction charged': () => outcome === 'ok' });
      }
    },
  },
  {
    weight: 1,
    name: 'threshold_check',
    run(api, ledger, acct) {
      // The low-balance flags must agree with the balance, and each notice kind appear at most once.
      const { snap } = readBalance(api, ledger, acct);
      const notes = api.notices(api.send(api.notificationsReq(acct)));
      const low = api.cfg.lowThreshold;
      check(snap, {
        'threshold flags match balance': (s) =>
          s !== undefined &&
          (s.balance > low ? !s.lowNotified && !s.depletedNotified : s.balance > 0 ? s.lowNotified === true : s.depletedNotified === true),
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
    },
  },
];

const TOTAL = TASKS.reduce((s, t) => s + t.weight, 0);

// userIteration runs one task chosen by weight for the VU's account.
export function userIteration(api, ledger, acct) {
  let r = Math.random() * TOTAL;
  for (const t of TASKS) {
    r -= t.weight;
    if (r < 0) return t.run(api, ledger, acct);
  }
  return TASKS[0].run(api, ledger, acct);
}
