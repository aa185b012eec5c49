// A small client for the credit API (the Beta 500 contract, docs/api.md), driven entirely by the
// configuration of config.js. Every request carries a `name` tag naming its endpoint (health, create_user,
// delete_user, balance, ai_search, ai_recommendations, deduct, transactions, notifications), so thresholds
// and the summary speak per endpoint: http_req_duration{name:deduct}.
//
// Methods ending in Req return a request for http.batch ({method, url, body, params}); the others send it.
// At the end of the file: charge, chargeAll and readBalance, the operations of the load, each through the
// ledger (one module with the client: a module costs ~6 KiB in every VU).
// An account is {id}: its token is kept in the ledger's memory (ledger.setToken in setup, ledger.token
// here), never in the setup data, which k6 writes into --summary-export and handleSummary's data.

import http from 'k6/http';
import ledger from 'k6/x/ledger';

// NAMES are the endpoint tags, by configuration path key.
export const NAMES = {
  health: 'health',
  createUser: 'create_user',
  deleteUser: 'delete_user',
  issueToken: 'issue_token',
  balance: 'balance',
  aiSearch: 'ai_search',
  aiRecommendations: 'ai_recommendations',
  deduct: 'deduct',
  transactions: 'transactions',
  notifications: 'notifications',
};

// field reads a dotted path ("data.remaining_credits") from a decoded JSON object.
export function field(obj, path) {
  if (!path) return undefined; // a field the service does not have
  let v = obj;
  for (const p of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = v[p];
  }
  return v;
}

// get reads a dotted path ("data.remaining_credits") from a response's JSON body without decoding the
// whole body into JS objects (Response.json(path) evaluates it in Go); undefined when the response has no
// body, is not JSON or lacks the field.
export function get(res, path) {
  if (!path || !res || res.status === 0) return undefined;
  try {
    return res.json(path);
  } catch (e) {
    return undefined;
  }
}

// ok reports whether a response has a 2xx status (services differ: 200, 201, 204).
export function ok(res) {
  return !!res && res.status >= 200 && res.status <= 299;
}

// describe gives a short human description of a failed response for messages.
export function describe(res) {
  if (!res) return 'no response';
  if (res.status === 0) return `no answer (${res.error || 'network error'})`;
  const b = typeof res.body === 'string' ? res.body.slice(0, 200) : '';
  return `HTTP ${res.status}${b ? `: ${b}` : ''}`;
}

// Client speaks the credit API of one service.
export class Client {
  constructor(cfg) {
    this.cfg = cfg;
    this.f = cfg.fields;
    this.endpointOf = {};
    this.endpointOf[cfg.features.aiSearch] = 'aiSearch';
    this.endpointOf[cfg.features.aiRecommendations] = 'aiRecommendations';
    // Built once per VU rather than per request: the tags of each endpoint (k6/http only reads them)
    // and JSON-quoted strings for the charge bodies.
    this.tagsOf = {};
    for (const key of Object.keys(NAMES)) this.tagsOf[key] = Object.freeze({ name: NAMES[key] });
    // The Authorization value and the deduct bodies' parts of the last account used: kept for one
    // account only, so a VU that drains account after account holds nothing of the ones it left.
    this.authId = undefined;
    this.authV = undefined;
    this.quotedOf = Object.create(null); // field names and features
    this.urlOf = Object.create(null); // by path key, for the paths without an account
    this.bodyId = undefined;
    this.bodyOf = null; // deduct bodies' parts of account bodyId, by feature (deductBody)
    // The optional fields of a balance snapshot: its key, then the configured field, for each.
    this.snapshotFields = ['used', this.f.used, 'version', this.f.version, 'lowNotified', this.f.lowNotified,
      'depletedNotified', this.f.depletedNotified];
    this.burst = []; // burstReq's request objects, by place in a burst
    this.read = null; // balanceReq's kept request object
    this.metaHead = this.f.metadata ? `,${this.quoted(this.f.metadata)}:{"source":"tally","op":` : '';
  }

  url(key, acct) {
    if (acct) return this.cfg.baseUrl + this.cfg.paths[key].replace('{user_id}', encodeURIComponent(acct.id));
    let u = this.urlOf[key];
    if (u === undefined) {
      u = this.cfg.baseUrl + this.cfg.paths[key];
      this.urlOf[key] = u;
    }
    return u;
  }

  // params are the request params of endpoint `key`: JSON, acct's Authorization (if acct), the
  // Idempotency-Key `idemKey` (if given), the endpoint's name tag and `timeout` (default cfg.timeout).
  // The requests of setup and teardown (accounts, snapshots, notices, logs, replays) wait up to
  // cfg.adminTimeout: they are not load, and giving up on them would leave the verdict incomplete.
  params(key, acct, timeout, idemKey) {
    const headers = { 'Content-Type': 'application/json' };
    const auth = acct ? this.authValue(acct) : undefined;
    if (auth) headers[this.cfg.auth.header] = auth;
    if (idemKey) headers[this.cfg.idempotencyHeader] = idemKey;
    return { headers, tags: this.tagsOf[key], timeout: timeout || this.cfg.timeout };
  }

  // authValue is acct's Authorization header value (cfg.auth.value with its token), or undefined while
  // the account has no token. The last account's value is kept: an account's token does not change.
  authValue(acct) {
    if (this.authId === acct.id) return this.authV;
    const token = acct.token || ledger.token(acct.id);
    if (!token) return undefined;
    this.authId = acct.id;
    this.authV = this.cfg.auth.value.replace('{token}', token);
    return this.authV;
  }

  // quoted is JSON.stringify(s), kept for the next request (field names and features: a fixed few).
  quoted(s) {
    let q = this.quotedOf[s];
    if (q === undefined) {
      q = JSON.stringify(s);
      this.quotedOf[s] = q;
    }
    return q;
  }

  // price is the credits a charge of `units` of `feature` costs.
  price(feature, units) {
    return (units || 1) * this.cfg.rates[feature];
  }

  // endpoint names the path key that charges a feature: the AI endpoints charge their own feature, any
  // other feature goes through the generic deduct endpoint. One feature, one endpoint: a replay at the
  // end of a run rebuilds the original request from the feature, the amount and the operation id alone.
  endpoint(feature) {
    return this.endpointOf[feature] || 'deduct';
  }

  health() {
    return http.request('GET', this.url('health'), null, this.params('health', null, this.cfg.healthTimeout));
  }

  createUserReq(id, credits) {
    const b = {};
    b[this.f.userId] = id;
    b[this.f.initialCredits] = credits;
    return { method: 'POST', url: this.url('createUser'), body: JSON.stringify(b), params: this.params('createUser', null, this.cfg.adminTimeout) };
  }

  issueTokenReq(id) {
    const b = {};
    b[this.f.userId] = id;
    return { method: 'POST', url: this.url('issueToken'), body: JSON.stringify(b), params: this.params('issueToken', null, this.cfg.adminTimeout) };
  }

  deleteUserReq(acct) {
    return { method: 'DELETE', url: this.url('deleteUser', acct), body: null, params: this.params('deleteUser', null, this.cfg.adminTimeout) };
  }

  // balanceReq reads acct's balance; admin: with the setup/teardown timeout. kept (not admin): the request
  // is written over in an object kept for it, as burstReq's are (readBalance's, sent at once and never
  // kept), instead of a request, a params and a headers object per read.
  balanceReq(acct, admin, kept) {
    const auth = kept && !admin ? this.authValue(acct) : undefined;
    if (auth && this.read !== null) {
      this.read.params.headers[this.cfg.auth.header] = auth;
      return this.read;
    }
    const req = { method: 'GET', url: this.url('balance'), body: null, params: this.params('balance', acct, admin ? this.cfg.adminTimeout : undefined) };
    if (auth) this.read = req;
    return req;
  }

  notificationsReq(acct, admin) {
    return { method: 'GET', url: this.url('notifications'), body: null, params: this.params('notifications', acct, admin ? this.cfg.adminTimeout : undefined) };
  }

  // transactionsReq asks for a page of acct's log starting after `after` (a record id, or an opaque cursor
  // with paging 'cursor'; undefined or null: the first page).
  transactionsReq(acct, after, limit) {
    const cur = after === undefined || after === null ? '' : `${this.f.after}=${encodeURIComponent(String(after))}&`;
    const q = `?${cur}${this.f.limit}=${limit}`;
    return { method: 'GET', url: this.url('transactions') + q, body: null, params: this.params('transactions', acct, this.cfg.adminTimeout) };
  }

  // chargeReq builds the request that charges `amount` credits of `feature` to acct. The body is a pure
  // function of (feature, amount, id), so the same operation can be sent again with its idempotency key.
  // admin: a replay, sent with the setup/teardown timeout.
  chargeReq(acct, feature, amount, id, key, admin) {
    const ep = this.endpoint(feature);
    const req = { method: 'POST', url: '', body: null, params: this.params(ep, acct, admin ? this.cfg.adminTimeout : undefined, key) };
    return this.fillCharge(req, ep, acct, feature, amount, id);
  }

  // burstReq is chargeReq (not a replay) in the request object kept for place `slot` of a burst: its
  // params and headers are written over instead of made again. k6/http reads a request when it is
  // handed to http.batch, so a burst's requests may be used again by the next burst, never kept.
  burstReq(slot, acct, feature, amount, id, key) {
    const auth = this.authValue(acct);
    if (!auth || !key) return this.chargeReq(acct, feature, amount, id, key); // not the usual shape
    let req = this.burst[slot];
    if (req === undefined) {
      req = { method: 'POST', url: '', body: null, params: { headers: {}, tags: null, timeout: this.cfg.timeout } };
      this.burst[slot] = req;
    }
    const p = req.params;
    const h = p.headers; // written in the order params() writes them, so its keys come in that order
    h['Content-Type'] = 'application/json';
    h[this.cfg.auth.header] = auth;
    h[this.cfg.idempotencyHeader] = key;
    const ep = this.endpoint(feature);
    p.tags = this.tagsOf[ep];
    return this.fillCharge(req, ep, acct, feature, amount, id);
  }

  // fillCharge writes the method, URL and body of a charge to endpoint ep into req and returns it.
  fillCharge(req, ep, acct, feature, amount, id) {
    if (ep === 'aiSearch') {
      const b = {};
      b[this.f.query] = `tally query ${id % 100}`;
      b[this.f.limit] = 1 + (id % 5);
      req.method = 'POST';
      req.url = this.url(ep);
      req.body = JSON.stringify(b);
    } else if (ep === 'aiRecommendations') {
      req.method = 'GET';
      req.url = `${this.url(ep)}?${this.f.limit}=${1 + (id % 5)}`;
      req.body = null;
    } else {
      req.method = 'POST';
      req.url = this.url(ep);
      req.body = this.deductBody(acct, feature, amount / this.cfg.rates[feature], id);
    }
    return req;
  }

  // deductBody is the deduct request's body, JSON.stringify of {userId: acct.id, feature, usage: units,
  // metadata: {source: 'tally', op: id}} under the configured field names (no metadata when that field is
  // ''), written as text: the hottest request of race.js builds no objects for it, and joins three parts
  // kept per (account, feature) with the units and the id.
  deductBody(acct, feature, units, id) {
    if (this.bodyId !== acct.id) {
      this.bodyId = acct.id;
      this.bodyOf = Object.create(null);
    }
    const byFeature = this.bodyOf;
    let head = byFeature[feature];
    if (head === undefined) {
      const f = this.f;
      head = `{${this.quoted(f.userId)}:${JSON.stringify(acct.id)},${this.quoted(f.feature)}:${this.quoted(feature)},` +
        `${this.quoted(f.usage)}:`;
      byFeature[feature] = head;
    }
    return this.metaHead ? `${head}${units}${this.metaHead}${id}}}` : `${head}${units}}`;
  }

  // send performs one request built by a *Req method.
  send(req) {
    return http.request(req.method, req.url, req.body, req.params);
  }

  token(res) {
    return get(res, this.f.token);
  }

  // snapshot reads a balance response into the ledger's snapshot shape; undefined when it has no balance.
  snapshot(res) {
    if (!ok(res)) return undefined;
    const s = { balance: get(res, this.f.balance) };
    if (typeof s.balance !== 'number') return undefined;
    const opt = this.snapshotFields;
    for (let i = 0; i < opt.length; i += 2) {
      const v = get(res, opt[i + 1]);
      if (v !== undefined && v !== null) s[opt[i]] = v;
    }
    return s;
  }

  // remaining reads the balance a charge or refusal reports, or undefined.
  remaining(res) {
    const v = get(res, this.f.balance);
    return typeof v === 'number' ? v : undefined;
  }

  // list reads the array under a configured field (transactions, notifications) of a response.
  list(res, key) {
    if (!ok(res)) return undefined;
    const v = get(res, this.f[key]);
    if (v === null) return []; // some services write an empty list as null
    return Array.isArray(v) ? v : undefined;
  }

  // standardLog reports whether transaction records have the field names the ledger reads itself, so a
  // page can go to it as the Response, decoded in Go.
  standardLog() {
    const f = this.f;
    return this.cfg.paging === 'id' && f.transactions === 'transactions' && f.transactionKey === 'id' && f.feature === 'feature' &&
      f.txAmount === 'amount' && f.txBalanceAfter === 'balance_after' && f.txKey === 'idempotency_key';
  }

  // page reads what paging and the unknown-outcome lookup need from a transactions page without decoding
  // the records: {count, next, keys()} where next is the cursor of the following page (undefined after the
  // last one); undefined when the response is not a page. A page the configuration cannot follow throws
  // an Error naming the key to set.
  page(res) {
    const f = this.f;
    if (!ok(res)) return undefined;
    let count = get(res, `${f.transactions}.#`);
    if (count === undefined && get(res, f.transactions) === null) count = 0; // an empty list written as null
    if (typeof count !== 'number') {
      throw new Error(`GET ${this.url('transactions')} answered ${res.status} without a list at fields.transactions ("${f.transactions}"): set fields.transactions to the field holding the records`);
    }
    let next;
    if (this.cfg.paging === 'cursor') {
      next = get(res, f.nextCursor);
      if (next === null || next === '' || count === 0) next = undefined;
    } else if (count > 0) {
      next = get(res, `${f.transactions}.${count - 1}.${f.transactionKey}`);
      if (typeof next !== 'string' && typeof next !== 'number') {
        throw new Error(`a transactions record has no id at fields.transactionKey ("${f.transactionKey}"): set it, or paging: 'cursor' with fields.nextCursor for a service that pages by cursor`);
      }
    }
    return {
      count,
      next,
      keys: () => (f.txKey ? get(res, `${f.transactions}.#.${f.txKey}`) || [] : []),
    };
  }

  // notices reads a notifications response into the ledger's shape [{kind, remaining_credits, created_at}]
  // (kind 'low_balance' or 'depleted'); undefined when it has no list.
  notices(res) {
    const list = this.list(res, 'notifications');
    if (!list) return undefined;
    const kinds = {};
    kinds[this.cfg.noticeKinds.low] = 'low_balance';
    kinds[this.cfg.noticeKinds.depleted] = 'depleted';
    return list.map((n) => {
      const kind = field(n, this.f.noticeKind);
      if (!(kind in kinds)) {
        throw new Error(`notice kind ${JSON.stringify(kind)} (at fields.noticeKind "${this.f.noticeKind}") is neither noticeKinds.low ("${this.cfg.noticeKinds.low}") nor noticeKinds.depleted ("${this.cfg.noticeKinds.depleted}"): set noticeKinds to the service's names`);
      }
      const out = { kind: kinds[kind] };
      const r = field(n, this.f.noticeBalance);
      if (typeof r === 'number') out.remaining_credits = r;
      const t = field(n, this.f.noticeTime);
      if (t !== undefined && t !== null) out.created_at = String(t);
      return out;
    });
  }

  // transactions reads a transactions page into the ledger's shape [{id, feature, amount, balance_after,
  // idempotency_key, created_at}]; undefined when it has no list.
  transactions(res) {
    const list = this.list(res, 'transactions');
    if (!list) return undefined;
    const f = this.f;
    return list.map((x) => {
      const out = { feature: field(x, f.feature), amount: field(x, f.txAmount) };
      const id = field(x, f.transactionKey);
      if (id !== undefined && id !== null) out.id = String(id);
      if (typeof out.amount !== 'number') {
        throw new Error(`a transactions record has no numeric amount at fields.txAmount ("${f.txAmount}"): set fields.txAmount to the field holding a debit's credits`);
      }
      const opt = { balance_after: f.txBalanceAfter, idempotency_key: f.txKey, created_at: f.txTime };
      for (const k of Object.keys(opt)) {
        const v = field(x, opt[k]);
        if (v !== undefined && v !== null) out[k] = v;
      }
      return out;
    });
  }
}

// The two things every scenario does to an account during the load: charge it and read its balance. Each
// goes through the ledger (k6/x/ledger), which records the operation before the request is sent and its
// outcome when the answer comes back, so that the audit at the end can account for every credit.

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
  for (let i = 0; i < charges.length; i++) { // arr[i] = v: Array.prototype.push is a native call each
    const c = charges[i];
    const op = ledger.begin(acct.id, c);
    ops[i] = op;
    reqs[i] = api.burstReq(i, acct, c.feature, c.amount, op.id, op.key);
  }
  const res = http.batch(reqs);
  const out = [];
  for (let i = 0; i < ops.length; i++) out[i] = { res: res[i], outcome: ledger.settleHttp(ops[i], res[i]) };
  return out;
}

// readBalance reads acct's balance and returns {res, snap}: the response and the balance snapshot read
// from it (undefined when the answer holds no balance). The ledger checks every balance seen against
// what the deductions so far allow; a failed read tells it nothing.
export function readBalance(api, ledger, acct) {
  const rd = ledger.beginRead(acct.id);
  const res = api.send(api.balanceReq(acct, false, true));
  const snap = api.snapshot(res);
  ledger.settleRead(rd, snap || res);
  return { res, snap };
}

// answered reports whether a charge got a definite answer from the service: charged or refused for
// insufficient credits. Anything else (rejected, no answer, timeout, 5xx) is a failed request.
export function answered(outcome) {
  return outcome === 'ok' || outcome === 'insufficient';
}
