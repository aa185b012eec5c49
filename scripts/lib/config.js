// Configuration of the credit API client: one object built in the init context from, lowest to highest
// precedence, the defaults below (the Beta 500 credit API as creditd serves it), an optional JSON file named
// by -e CONFIG=path, and environment variables (-e NAME=value or the process environment).
//
// A team points tally at its own credit service by changing this configuration, never the scenarios:
// BASE_URL for the address, and a CONFIG file for paths, field names, feature prices, auth and accounts.
// Every key of the file is optional; objects merge key by key into the defaults. See docs/scenarios.md.
// At the end of the file: the profiles (PROFILE, DURATION, ramping stages, thresholds files).

const API = '/api/v1/beta';

// defaults returns the default configuration, a fresh object each time (it is not kept in every VU).
function defaults() {
  return {
    baseUrl: 'http://127.0.0.1:8000',
    // Paths from the base URL. {user_id} is replaced by the account id (URL-escaped).
    paths: {
      health: '/health',
      createUser: `${API}/test/create-user`,
      deleteUser: `${API}/test/delete-user/{user_id}`,
      issueToken: `${API}/test/issue-token`, // shared accounts: a token for an account another instance created
      balance: `${API}/credits/balance`,
      aiSearch: `${API}/ai-search`,
      aiRecommendations: `${API}/ai-recommendations`,
      deduct: `${API}/credits/deduct`,
      transactions: `${API}/credits/transactions`,
      notifications: `${API}/credits/notifications`,
    },
    // Names of JSON fields in requests and responses.
    fields: {
      userId: 'user_id', // create-user and deduct request bodies
      initialCredits: 'initial_credits', // create-user request body
      token: 'token', // create-user response
      feature: 'feature', // deduct request body, transaction records
      usage: 'usage_amount', // deduct request body
      metadata: 'metadata', // deduct request body
      query: 'query', // ai-search request body
      limit: 'limit', // ai-search body, ai-recommendations and transactions query parameter
      after: 'after', // transactions query parameter: the paging cursor (paging 'id': the last record's
      // transactionKey; paging 'cursor': the page's nextCursor)
      balance: 'remaining_credits', // balance, charge and 402 responses, notices
      used: 'used_credits', // balance response
      version: 'version', // balance and charge responses
      lowNotified: 'low_balance_notified', // balance response
      depletedNotified: 'depleted_notified', // balance response
      charged: 'credits_charged', // charge responses
      transactionId: 'transaction_id', // charge responses
      transactions: 'transactions', // transactions response: the list
      transactionKey: 'id', // a transaction's id (the paging cursor with paging 'id'); string or number
      nextCursor: '', // paging 'cursor': where a transactions page holds the next page's cursor (absent,
      // null or '' on the last page)
      notifications: 'notifications', // notifications response: the list
      noticeKind: 'kind', // a notice's kind: noticeKinds.low or noticeKinds.depleted
      noticeBalance: 'remaining_credits', // the balance a notice reports
      noticeTime: 'created_at',
      txAmount: 'amount', // a transaction's credits
      txBalanceAfter: 'balance_after',
      txKey: 'idempotency_key', // the Idempotency-Key the transaction was charged under
      txTime: 'created_at',
    },
    // A field named '' is one the service does not have: allowed for the optional ones (OPTIONAL_FIELDS).
    noticeKinds: { low: 'low_balance', depleted: 'depleted' },
    // Transaction log conventions. paging: 'id' (GET transactions?after=<last id>, until an empty page) or
    // 'cursor' (an opaque cursor read from fields.nextCursor, until a page has none). pageSize: records
    // asked per page (the service may send fewer). txAmountSign: how the log writes a debit's amount:
    // 'positive' (5), 'negative' (-5) or 'auto' (the ledger tells from the balance chain: docs/ledger.md).
    paging: 'id',
    pageSize: 1000,
    txAmountSign: 'auto',
    // Features the scenarios charge, and their price in credits per unit (the service's rates).
    features: {
      aiSearch: 'ai_search', // charged by POST paths.aiSearch
      aiRecommendations: 'ai_recommendations', // charged by GET paths.aiRecommendations
      deduct: 'live_dubbing', // charged by POST paths.deduct with usage_amount units
    },
    rates: { ai_search: 5, ai_recommendations: 3, live_dubbing: 1 },
    // Auth: header name and value template; {token} is the account's token.
    auth: { header: 'Authorization', value: 'Bearer {token}' },
    idempotencyHeader: 'Idempotency-Key',
    // Status codes the client treats as "insufficient credits" and as a successful create/delete.
    insufficientStatus: 402,
    lowThreshold: 50, // the service's low-balance notice threshold
    // Accounts. With testEndpoints the scenarios create fresh accounts in setup and delete them in teardown
    // (unless keepAccounts). Without them, list pre-provisioned accounts as [{id, token}]: the scenarios
    // share them among VUs and take their opening balance from a balance read.
    testEndpoints: true,
    accounts: [],
    keepAccounts: false,
    // Distributed race.js on the SAME accounts: names derive from RUN_ID, the instance whose execution
    // segment starts at 0 creates and snapshots them, the others wait (up to sharedWaitMs) and take tokens
    // through paths.issueToken; at the end the first waits for the others' audits before closing.
    sharedAccounts: false,
    sharedWaitMs: 300000,
    userPrefix: 'tally-',
    initialCredits: 5000, // per VU account in normal.js and spike.js
    timeout: '20s', // per request of the load; one that times out is an unknown outcome, resolved at the end
    adminTimeout: '60s', // per request of setup and teardown (accounts, snapshots, logs, replays)
    settleMs: 1000, // quiet time after the load before the closing snapshots (>= the service's deadline
    // minus the client timeout, so nothing abandoned is still in flight)
    healthTimeout: '5s',
    teardownBatch: 20, // requests per http.batch call in setup and teardown
    runId: '', // part of account names and idempotency keys; default: random per run
    instance: '', // this load generator's name in a distributed run (ledger journals)
    journal: '', // write the ledger's journal (NDJSON) to this file
    deepCheck: 'auto', // the ledger's deep (linearizability, porcupine) check: auto or off
    deepBudgetMs: 30000, // time the deep check may take in all; an account out of budget is "out_of_budget", not failed
  };
}

// OPTIONAL_FIELDS may be '' (the service does not report them); the others are required.
const OPTIONAL_FIELDS = ['metadata', 'used', 'version', 'lowNotified', 'depletedNotified', 'charged', 'transactionId',
  'transactionKey', 'nextCursor', 'noticeBalance', 'noticeTime', 'txBalanceAfter', 'txKey', 'txTime'];

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function merge(base, over, where) {
  const out = Object.assign({}, base);
  for (const k of Object.keys(over)) {
    if (!(k in base)) {
      throw new Error(`${where}: unknown key "${k}"; known keys: ${Object.keys(base).join(', ')}`);
    }
    if (isObject(base[k])) {
      if (!isObject(over[k])) {
        throw new Error(`${where}: "${k}" must be an object`);
      }
      out[k] = k === 'rates' ? Object.assign({}, base[k], over[k]) : merge(base[k], over[k], `${where}.${k}`);
    } else {
      out[k] = over[k];
    }
  }
  return out;
}

function flag(name, v) {
  const s = String(v).toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
  throw new Error(`${name}=${v}: expected true or false`);
}

function positiveInt(name, v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`${name}=${v}: expected a whole number >= 0`);
  }
  return n;
}

// parseRates reads "feature=N,feature=N" (the syntax of creditd's --rate and CREDITD_RATES).
export function parseRates(s, where) {
  const rates = {};
  for (const part of s.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    const n = Number(item.slice(eq + 1));
    if (eq <= 0 || !Number.isInteger(n) || n <= 0) {
      throw new Error(`${where}: "${item}" is not FEATURE=PRICE with a whole price > 0`);
    }
    rates[item.slice(0, eq)] = n;
  }
  return rates;
}

// ENV lists the environment variables that override configuration keys, as 'key' or 'key.sub' (a key of
// an object key) and, after a colon, how the value is read: int (a whole number >= 0), flag (true or
// false) or rates (FEATURE=PRICE,... merged into rates); a plain string otherwise. Data, not a function
// per variable: every VU evaluates this module, and each function object costs ~0.7 KiB in each VU.
export const ENV = {
  BASE_URL: 'baseUrl',
  RATES: 'rates:rates',
  AUTH_HEADER: 'auth.header',
  AUTH_VALUE: 'auth.value',
  KEEP_ACCOUNTS: 'keepAccounts:flag',
  USER_PREFIX: 'userPrefix',
  INITIAL_CREDITS: 'initialCredits:int',
  LOW_THRESHOLD: 'lowThreshold:int',
  TIMEOUT: 'timeout',
  ADMIN_TIMEOUT: 'adminTimeout',
  SETTLE_MS: 'settleMs:int',
  RUN_ID: 'runId',
  INSTANCE: 'instance',
  JOURNAL: 'journal',
  DEEP_CHECK: 'deepCheck',
  DEEP_BUDGET_MS: 'deepBudgetMs:int',
  TX_AMOUNT_SIGN: 'txAmountSign',
  SHARED_ACCOUNTS: 'sharedAccounts:flag',
  SHARED_WAIT_MS: 'sharedWaitMs:int',
};

// setFromEnv sets the configuration key of environment variable `name` (an ENV entry) from its value v.
function setFromEnv(c, name, v) {
  const [path, kind] = ENV[name].split(':');
  let val = v;
  if (kind === 'flag') val = flag(name, v);
  if (kind === 'int') val = positiveInt(name, v);
  if (kind === 'rates') val = Object.assign({}, c.rates, parseRates(v, name));
  const [key, sub] = path.split('.');
  c[key] = sub ? Object.assign({}, c[key], { [sub]: val }) : val;
}

// load builds the configuration. It must run in the init context (it may call open()).
export function load() {
  const base = defaults();
  let cfg = base;
  const file = __ENV.CONFIG;
  if (file) {
    let text;
    try {
      text = open(resolvePath(file));
    } catch (e) {
      throw new Error(`CONFIG=${file}: cannot read the file (${e.message || e}); give a path to a JSON file`);
    }
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new Error(`CONFIG=${file}: not valid JSON (${e.message || e})`);
    }
    if (!isObject(parsed)) {
      throw new Error(`CONFIG=${file}: the file must hold a JSON object`);
    }
    cfg = merge(base, parsed, `CONFIG=${file}`);
  } else {
    cfg = base;
  }
  for (const name of Object.keys(ENV)) {
    const v = __ENV[name];
    if (v !== undefined && v !== '') {
      setFromEnv(cfg, name, v);
    }
  }
  // String methods, not regular expressions: the first regular expression a VU evaluates makes its
  // RegExp prototype (~17 KiB in each of race.js's 1,000 VUs).
  let url = String(cfg.baseUrl);
  while (url.endsWith('/')) url = url.slice(0, -1);
  cfg.baseUrl = url;
  const host = url.startsWith('https://') ? url.slice(8) : url.startsWith('http://') ? url.slice(7) : '';
  if (host === '' || host.includes('/')) {
    throw new Error(`BASE_URL=${cfg.baseUrl}: expected http://host:port or https://host:port (no path)`);
  }
  for (const f of Object.values(cfg.features)) {
    if (!Number.isInteger(cfg.rates[f]) || cfg.rates[f] <= 0) {
      throw new Error(`feature "${f}" has no price: add it to rates (config file) or RATES=${f}=N`);
    }
  }
  if (cfg.deepCheck !== 'auto' && cfg.deepCheck !== 'off') {
    throw new Error(`DEEP_CHECK=${cfg.deepCheck}: expected auto or off`);
  }
  for (const [k, v] of Object.entries(cfg.fields)) {
    if (typeof v !== 'string') throw new Error(`fields.${k}: expected a field name (a string), got ${JSON.stringify(v)}`);
    if (v === '' && !OPTIONAL_FIELDS.includes(k)) {
      throw new Error(`fields.${k}: required, cannot be '' (optional fields: ${OPTIONAL_FIELDS.join(', ')})`);
    }
  }
  if (cfg.paging === 'cursor' && !cfg.fields.nextCursor) {
    throw new Error("paging 'cursor' needs fields.nextCursor: where a transactions page holds the next page's cursor");
  }
  if (cfg.paging === 'id' && !cfg.fields.transactionKey) {
    throw new Error("paging 'id' needs fields.transactionKey (the record id the next page starts after); a service that pages by an opaque cursor needs paging 'cursor' and fields.nextCursor");
  }
  if (cfg.paging !== 'id' && cfg.paging !== 'cursor') {
    throw new Error(`paging=${JSON.stringify(cfg.paging)}: expected 'id' or 'cursor'`);
  }
  if (!Number.isInteger(cfg.pageSize) || cfg.pageSize < 1) {
    throw new Error(`pageSize=${JSON.stringify(cfg.pageSize)}: expected a whole number >= 1`);
  }
  if (!['auto', 'positive', 'negative'].includes(cfg.txAmountSign)) {
    throw new Error(`txAmountSign (TX_AMOUNT_SIGN)=${JSON.stringify(cfg.txAmountSign)}: expected auto, positive or negative`);
  }
  if (cfg.sharedAccounts && (!cfg.runId || !cfg.testEndpoints || !cfg.paths.issueToken)) {
    throw new Error('SHARED_ACCOUNTS needs RUN_ID (the same on every instance), testEndpoints and paths.issueToken (the service\'s endpoint giving a token for an existing account)');
  }
  if (!cfg.testEndpoints && cfg.accounts.length === 0) {
    throw new Error('testEndpoints is false but no accounts are listed: give accounts [{id, token}] in the CONFIG file');
  }
  for (const [i, a] of cfg.accounts.entries()) {
    if (!a || typeof a.id !== 'string' || typeof a.token !== 'string') {
      throw new Error(`accounts[${i}]: expected {"id": "...", "token": "..."}`);
    }
  }
  return cfg;
}

// resolvePath turns a path given on the command line (CONFIG, THRESHOLDS) into one open() reads. open()
// resolves relative paths against the entry script's directory, but users mean their working directory:
// use PWD when the environment has it.
export function resolvePath(p) {
  if (p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || !__ENV.PWD) {
    return p;
  }
  return `${__ENV.PWD}/${p}`;
}

// configureLedger gives k6/x/ledger the run's settings from the configuration: the low-balance threshold,
// the settle delay, the status and field mapping of charge answers, and, when set, the run id, instance
// name and journal path (distributed runs: docs/scenarios.md). Call it in the init context.
export function configureLedger(ledger, cfg) {
  const f = cfg.fields;
  const s = {
    lowThreshold: cfg.lowThreshold,
    amountSign: cfg.txAmountSign, // auto, positive or negative: how the service's log writes debits
    settleMs: cfg.settleMs,
    rules: {
      insufficient: [String(cfg.insufficientStatus)],
      fields: { balance: f.balance, version: f.version, txId: f.transactionId, charged: f.charged },
    },
  };
  if (cfg.sharedAccounts) {
    s.allowUnopened = true; // the first instance opens the shared accounts
    s.shared = true; // other instances charge them too: no online bounds from one instance's view
  }
  if (cfg.runId) s.run = cfg.runId;
  if (cfg.instance) s.instance = cfg.instance;
  if (cfg.journal) s.journal = cfg.journal;
  ledger.configure(s);
}

// Profiles: the sizes and durations of a scenario, chosen with PROFILE (default full: the sizes of the
// original Beta 500 plan). quick keeps the shape at <= 200 VUs and under a minute (make run); smoke is a
// few seconds for the end-to-end tests. A scenario may add its own variants (race.js: full-200).

// pick returns the profile named by PROFILE from a scenario's table, with its name. DURATION=seconds, when
// set, replaces the profile's duration (e.g. a shortened full-size run); the other sizes stay.
export function pick(table) {
  const name = (__ENV.PROFILE || 'full').trim().toLowerCase();
  const p = table[name];
  if (!p) {
    throw new Error(`PROFILE=${name}: unknown profile; this scenario has ${Object.keys(table).join(', ')}`);
  }
  const picked = Object.assign({ name }, p);
  if (__ENV.DURATION) {
    const d = Number(__ENV.DURATION);
    if (!Number.isInteger(d) || d < 1) {
      throw new Error(`DURATION=${__ENV.DURATION}: expected whole seconds, e.g. DURATION=180`);
    }
    picked.duration = d;
  }
  return picked;
}

// rampingStages ramps 0 -> vus at `rate` VUs per second, then holds, for `duration` seconds in all.
export function rampingStages(vus, rate, duration) {
  const ramp = Math.max(1, Math.ceil(vus / rate));
  const stages = [{ duration: `${ramp}s`, target: vus }];
  if (duration > ramp) {
    stages.push({ duration: `${duration - ramp}s`, target: vus });
  }
  return stages;
}

// thresholds reads a thresholds profile: THRESHOLDS=path when set (relative to the working directory),
// else thresholds/<name>.json of this repository. The file holds {"description", "thresholds": {...}}
// with k6's threshold syntax; it must run in the init context. Only the first evaluation of the init
// context (__VU 0: options, setup, teardown) has its options read, as in k6, so the VUs that run the load
// get {} and skip the file: its parsed thresholds cost ~12 KiB in every VU.
export function thresholds(name) {
  if (__VU !== 0) return {};
  const file = __ENV.THRESHOLDS ? resolvePath(__ENV.THRESHOLDS) : `../thresholds/${name}.json`;
  let doc;
  try {
    doc = JSON.parse(open(file));
  } catch (e) {
    throw new Error(`thresholds ${file}: ${e.message || e}`);
  }
  if (!doc || typeof doc.thresholds !== 'object' || Array.isArray(doc.thresholds)) {
    throw new Error(`thresholds ${file}: expected {"thresholds": {"metric": ["expression", ...]}}`);
  }
  return doc.thresholds;
}
