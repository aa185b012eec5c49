// client-requests.js: the requests scripts/lib/credit.js builds, compared in the init context with the
// shapes they had when each was built from fresh objects (JSON.stringify of a body object, a params object
// per request), under the configuration of -e CONFIG (default: creditd's). A difference throws, which ends
// `tally run` with an init error. Used by TestClientRequests (e2e/client_test.go).
import { load } from '../../scripts/lib/config.js';
import { Client, NAMES } from '../../scripts/lib/credit.js';

const cfg = load();
const api = new Client(cfg);

function same(what, got, want) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

// The deduct body as it was built before: an object under the configured names, then JSON.stringify.
function oldDeductBody(acct, feature, amount, id) {
  const f = cfg.fields;
  const b = {};
  b[f.userId] = acct.id;
  b[f.feature] = feature;
  b[f.usage] = amount / cfg.rates[feature];
  if (f.metadata) b[f.metadata] = { source: 'tally', op: id };
  return JSON.stringify(b);
}

// The params as they were built before, per request.
function oldParams(key, acct, timeout, idemKey) {
  const headers = { 'Content-Type': 'application/json' };
  if (acct && acct.token) headers[cfg.auth.header] = cfg.auth.value.replace('{token}', acct.token);
  if (idemKey) headers[cfg.idempotencyHeader] = idemKey;
  return { headers, tags: { name: NAMES[key] }, timeout: timeout || cfg.timeout };
}

const deduct = cfg.features.deduct;
const accounts = [
  { id: 'tally-r-1', token: 't0k"en' },
  { id: 'quote"and\\back\u00e9\u2028', token: 'x' },
  { id: '__proto__', token: 'p' },
];
let checked = 0;
for (const acct of accounts) {
  for (const [amount, id] of [[cfg.rates[deduct], 0], [7 * cfg.rates[deduct], 123456789], [cfg.rates[deduct], 2 ** 40]]) {
    for (let round = 0; round < 2; round++) { // the second round reads the cached parts
      const req = api.chargeReq(acct, deduct, amount, id, `key-${id}`, round === 1);
      same(`deduct body of ${acct.id}`, req.body, oldDeductBody(acct, deduct, amount, id));
      JSON.parse(req.body);
      same('deduct params', req.params, oldParams('deduct', acct, round === 1 ? cfg.adminTimeout : undefined, `key-${id}`));
      checked++;
    }
  }
  for (const feature of [cfg.features.aiSearch, cfg.features.aiRecommendations]) {
    const req = api.chargeReq(acct, feature, cfg.rates[feature], 3, 'k', false);
    same(`${feature} params`, req.params, oldParams(api.endpoint(feature), acct, undefined, 'k'));
    checked++;
  }
  // A burst's requests, written over in the objects kept per place: each as chargeReq builds it afresh.
  const features = [deduct, cfg.features.aiSearch, cfg.features.aiRecommendations, deduct, cfg.features.aiSearch];
  for (let round = 0; round < 3; round++) {
    for (let slot = 0; slot < features.length; slot++) {
      const feature = features[(slot + round) % features.length];
      const id = 1000 * round + slot;
      const got = api.burstReq(slot, acct, feature, cfg.rates[feature] * (1 + slot), id, `key-${id}`);
      const fresh = api.chargeReq(acct, feature, cfg.rates[feature] * (1 + slot), id, `key-${id}`, false);
      same(`burst ${feature} request`, got, fresh);
      same(`burst ${feature} params`, got.params, oldParams(api.endpoint(feature), acct, undefined, `key-${id}`));
      checked++;
    }
  }
  // The balance read, written over in the object kept for it: as balanceReq builds it afresh.
  for (let round = 0; round < 2; round++) {
    same('balance read request', api.balanceReq(acct, false, true), api.balanceReq(acct));
    same('balance read params', api.balanceReq(acct, false, true).params, oldParams('balance', acct));
    checked++;
  }
  same('balance params', api.balanceReq(acct).params, oldParams('balance', acct));
  same('admin balance params', api.balanceReq(acct, true).params, oldParams('balance', acct, cfg.adminTimeout));
  same('transactions params', api.transactionsReq(acct, 5, 10).params, oldParams('transactions', acct, cfg.adminTimeout));
  checked += 3;
}
same('create-user params', api.createUserReq('u', 5).params, oldParams('createUser', null, cfg.adminTimeout));
console.log(`client requests: ${checked + 1} compared, all as before`);

export const options = { iterations: 1, vus: 1 };
export default function () {}
