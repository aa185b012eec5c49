// The two things every scenario does to an account during the load: charge it and read its balance. Each
// goes through the ledger (k6/x/ledger), which records the operation before the request is sent and its
// outcome when the answer comes back, so that the audit at the end can account for every credit.

import http from 'k6/http';

// charge sends one charge of `amount` credits of `feature` to acct, under the ledger operation's own
// Idempotency-Key, and returns {res, outcome}: the response and the outcome the ledger read from it
// ('ok', 'insufficient', 'rejected' or 'unknown', by the statuses of the configuration).
export function charge(api, ledger, acct, feature, amount) {
  const op = ledger.begin(acct.id, { feature, amount });
  const res = api.send(api.chargeReq(acct, feature, amount, op.id, op.key));
  return { res, outcome: ledger.settleHttp(op, res) };
}

// chargeAll sends several charges [{feature, amount}] to acct at the same moment (one http.batch), so
// that they race each other on the account, and returns one {res, outcome} per charge, in order. (Plain
// loops: race.js runs this for every burst, and a map() callback is a function call per element.)
export function chargeAll(api, ledger, acct, charges) {
  const ops = [];
  const reqs = [];
  for (let i = 0; i < charges.length; i++) {
    const c = charges[i];
    const op = ledger.begin(acct.id, c);
    ops.push(op);
    reqs.push(api.chargeReq(acct, c.feature, c.amount, op.id, op.key));
  }
  const res = http.batch(reqs);
  const out = [];
  for (let i = 0; i < ops.length; i++) out.push({ res: res[i], outcome: ledger.settleHttp(ops[i], res[i]) });
  return out;
}

// readBalance reads acct's balance and returns {res, snap}: the response and the balance snapshot read
// from it (undefined when the answer holds no balance). The ledger checks every balance seen against
// what the deductions so far allow; a failed read tells it nothing.
export function readBalance(api, ledger, acct) {
  const rd = ledger.beginRead(acct.id);
  const res = api.send(api.balanceReq(acct));
  const snap = api.snapshot(res);
  ledger.settleRead(rd, snap || res);
  return { res, snap };
}

// answered reports whether a charge got a definite answer from the service: charged or refused for
// insufficient credits. Anything else (rejected, no answer, timeout, 5xx) is a failed request.
export function answered(outcome) {
  return outcome === 'ok' || outcome === 'insufficient';
}
