// The end-of-run audit every scenario runs in teardown: wait for the service to settle, resolve unknown
// outcomes by replaying them with their idempotency keys, take the closing snapshots, hand the ledger each
// account's notices and complete transaction log, and verify. The verdict goes to the ledger_* metrics
// (thresholds gate on them) and, in plain words, to the end-of-test summary.

import { sleep } from 'k6';
import { forEachBatch } from './accounts.js';
import { describe } from './credit.js';

const MAX_REPLAY_ROUNDS = 3;
const PAGE = 1000; // transactions per page (the API's maximum)
const MAX_PAGES = 10000; // per account: 10 million records, a bound on the paging loop

// replayUnknowns sends every unresolved deduction again with its idempotency key: the service answers the
// original outcome if it applied the request, or applies it now; either way the outcome becomes definite.
function replayUnknowns(api, ledger, byId) {
  for (let round = 0; round < MAX_REPLAY_ROUNDS; round++) {
    const open = ledger.unknowns().filter((u) => byId[u.account]);
    if (open.length === 0) return 0;
    forEachBatch(api, open, (u) => api.chargeReq(byId[u.account], u.feature, u.amount, u.id, u.key), (u, res) => {
      ledger.settleReplay(u.id, res);
    });
  }
  return ledger.unknowns().length;
}

// collectLogs hands the ledger every page of every account's transaction log, oldest first.
function collectLogs(api, ledger, accounts) {
  let pending = accounts.map((a) => ({ a, after: 0, pages: 0 }));
  const idField = api.cfg.fields.transactionKey;
  while (pending.length > 0) {
    const next = [];
    forEachBatch(api, pending, (p) => api.transactionsReq(p.a, p.after, PAGE), (p, res) => {
      const txs = api.list(res, 'transactions');
      if (!txs) {
        console.error(`transaction log of ${p.a.id}: GET ${api.url('transactions')} gave ${describe(res)}; reconciliation incomplete`);
        return;
      }
      ledger.serverLog(p.a.id, res);
      p.pages++;
      if (txs.length === PAGE && p.pages < MAX_PAGES) {
        p.after = txs[txs.length - 1][idField];
        next.push(p);
      }
    });
    pending = next;
  }
}

// audit runs the end-of-run checks on `accounts` and returns the ledger's report.
export function audit(api, ledger, accounts) {
  const cfg = api.cfg;
  if (cfg.settleMs > 0) sleep(cfg.settleMs / 1000);
  const byId = {};
  for (const a of accounts) byId[a.id] = a;

  const left = replayUnknowns(api, ledger, byId);
  if (left > 0) console.warn(`${left} deductions still have an unknown outcome after ${MAX_REPLAY_ROUNDS} replay rounds`);

  let drained = 0;
  forEachBatch(api, accounts, (a) => api.balanceReq(a), (a, res) => {
    const snap = api.snapshot(res);
    if (!snap) {
      console.error(`closing balance of ${a.id}: GET ${api.url('balance')} gave ${describe(res)}; its verdict stays unknown`);
      return;
    }
    if (snap.balance === 0) drained++;
    ledger.close(a.id, snap);
  });
  forEachBatch(api, accounts, (a) => api.notificationsReq(a), (a, res) => {
    if (!api.list(res, 'notifications')) {
      console.error(`notices of ${a.id}: GET ${api.url('notifications')} gave ${describe(res)}; notices not checked`);
      return;
    }
    ledger.notifications(a.id, res);
  });
  collectLogs(api, ledger, accounts);

  const report = ledger.verify(cfg.deepCheck === 'off' ? { porcupine: 'off' } : {});
  return { report, drained };
}
