// The end-of-run audit every scenario runs in teardown: wait for the service to settle, resolve unknown
// outcomes, take the closing snapshots, hand the ledger each account's notices and complete transaction
// log, and verify. The verdict goes to the ledger_* metrics (thresholds gate on them) and, in plain words,
// to the end-of-test summary.
//
// Unknown outcomes (timeouts, connection errors, 5xx) are resolved two ways. One whose idempotency key is
// in the server's log was applied: the log join resolves it, and if the service had answered it with an
// explicit error, that is a charge without service. One whose key is not in the log (after the settle
// delay) is replayed with the same key and body, which makes its outcome definite. Replaying a request the
// log already shows applied would hide a charge made under an error answer, so those are not replayed.

import { forEachBatch } from './accounts.js';
import { describe } from './credit.js';

const MAX_REPLAY_ROUNDS = 3;
const MAX_PAGES = 100000; // per account: a bound on the paging loop

// eachLogPage pages through the transaction logs of `accounts`, oldest first, handing every page to
// page(account, res, info) (info: {count, next, keys()}); failed(account, res, why) is called for a log
// that cannot be read. Paging 'id' goes on until an empty page (a service may send fewer records than
// asked), paging 'cursor' until a page without a next cursor. A page the configuration cannot follow
// stops the run with a message naming the key to set.
function eachLogPage(api, accounts, page, failed) {
  const first = api.cfg.paging === 'cursor' ? undefined : 0;
  let pending = accounts.map((a) => ({ a, after: first, pages: 0 }));
  while (pending.length > 0) {
    const next = [];
    forEachBatch(api, pending, (p) => api.transactionsReq(p.a, p.after, api.cfg.pageSize), (p, res) => {
      const info = api.page(res);
      if (!info) {
        failed(p.a, res, describe(res));
        return;
      }
      page(p.a, res, info);
      p.pages++;
      if (info.next === undefined || info.count === 0) return;
      if (info.next === p.after) {
        throw new Error(`the transactions log of ${p.a.id} does not advance: the page after ${JSON.stringify(p.after)} ends at the same place; check paging ('id' or 'cursor'), fields.transactionKey and fields.nextCursor`);
      }
      if (p.pages >= MAX_PAGES) {
        failed(p.a, res, `more than ${MAX_PAGES} pages`);
        return;
      }
      p.after = info.next;
      next.push(p);
    });
    pending = next;
  }
}

// resolveUnknowns replays the unknown deductions whose key is not in their account's log (or all of an
// account's, when its log cannot be read). It returns how many are still unknown.
function resolveUnknowns(api, ledger, byId) {
  const unknowns = ledger.unknowns().filter((u) => byId[u.account]);
  if (unknowns.length === 0) return 0;
  const keys = {}; // account -> {key: seen in the log}
  for (const u of unknowns) {
    keys[u.account] = keys[u.account] || {};
    keys[u.account][u.key] = false;
  }
  const accounts = Object.keys(keys).map((id) => byId[id]);
  eachLogPage(api, accounts, (a, res, info) => {
    for (const k of info.keys()) {
      if (typeof k === 'string' && k in keys[a.id]) keys[a.id][k] = true;
    }
  }, (a, res, why) => {
    console.error(`transaction log of ${a.id}: GET ${api.url('transactions')} gave ${why}; its unknown outcomes are replayed`);
    for (const k of Object.keys(keys[a.id])) keys[a.id][k] = false; // no log: replay them all
  });
  let replay = unknowns.filter((u) => !keys[u.account][u.key]);
  console.log(`${unknowns.length} unknown outcomes: ${unknowns.length - replay.length} applied (their key is in the server log), ${replay.length} replayed with their idempotency key`);
  for (let round = 0; round < MAX_REPLAY_ROUNDS && replay.length > 0; round++) {
    const again = [];
    forEachBatch(api, replay, (u) => api.chargeReq(byId[u.account], u.feature, u.amount, u.id, u.key, true), (u, res) => {
      const o = ledger.settleReplay(u.id, res);
      if (o !== 'ok' && o !== 'insufficient') again.push(u);
    });
    replay = again;
  }
  return replay.length;
}

// audit runs the end-of-run checks on `accounts` and returns {report, drained}: the ledger's report and
// how many accounts ended at 0.
export function audit(api, ledger, accounts) {
  resolve(api, ledger, accounts);
  return closeAndVerify(api, ledger, accounts);
}

// resolve waits for the service to settle and resolves this instance's unknown outcomes (the first half
// of audit; in a shared-accounts run every instance does it before the first one closes the books).
export function resolve(api, ledger, accounts) {
  ledger.waitSettled(); // settleMs: requests the client gave up on may still be applied until then
  const byId = {};
  for (const a of accounts) byId[a.id] = a;
  const left = resolveUnknowns(api, ledger, byId);
  if (left > 0) console.warn(`${left} deductions still have an unknown outcome after ${MAX_REPLAY_ROUNDS} replay rounds`);
}

// closeAndVerify takes the closing snapshots, notices and logs of `accounts` and verifies (the second
// half of audit): {report, drained}. noVerify: only record them (report null), for a run whose verdict
// comes from all instances' journals together.
export function closeAndVerify(api, ledger, accounts, noVerify) {
  const cfg = api.cfg;

  let drained = 0;
  forEachBatch(api, accounts, (a) => api.balanceReq(a, true), (a, res) => {
    const snap = api.snapshot(res);
    if (!snap) {
      console.error(`closing balance of ${a.id}: GET ${api.url('balance')} gave ${describe(res)}; its verdict stays unknown`);
      return;
    }
    if (snap.balance === 0) drained++;
    ledger.close(a.id, snap);
  });
  forEachBatch(api, accounts, (a) => api.notificationsReq(a, true), (a, res) => {
    const notes = api.notices(res); // throws, naming the key to set, on notices it cannot read
    if (!notes) {
      console.error(`notices of ${a.id}: GET ${api.url('notifications')} gave ${describe(res)}; notices not checked`);
      return;
    }
    ledger.notifications(a.id, notes);
  });
  const standard = api.standardLog(); // the ledger decodes the pages itself, in Go
  eachLogPage(api, accounts, (a, res) => ledger.serverLog(a.id, standard ? res : api.transactions(res)), (a, res, why) => {
    console.error(`transaction log of ${a.id}: GET ${api.url('transactions')} gave ${why}; not reconciled`);
  });

  if (noVerify) return { report: null, drained };
  const report = ledger.verify({ porcupine: cfg.deepCheck, totalBudgetMs: cfg.deepBudgetMs });
  return { report, drained };
}
