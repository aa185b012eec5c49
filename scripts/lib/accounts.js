// Setup and teardown of test accounts: the health check, creating accounts (or taking the pre-provisioned
// ones of the configuration), their opening snapshots in the ledger, and deleting them at the end.

import http from 'k6/http';
import exec from 'k6/execution';
import { sleep } from 'k6';
import ledger from 'k6/x/ledger';
import { describe, ok } from './credit.js';

// checkHealth stops the run (test.abort, exit code 108) with a clear message when the service is down.
export function checkHealth(api) {
  const res = api.health();
  if (!ok(res)) {
    exec.test.abort(
      `the credit service is not healthy: GET ${api.url('health')} gave ${describe(res)}. ` +
        'Start it (make run starts creditd), or point BASE_URL (or CONFIG) at a running service.',
    );
  }
}

// runTag returns the run's tag: the ledger's run id (RUN_ID / runId when set, else time-based and random),
// plus the instance name in a distributed run. Account names carry it, so runs, and the instances of one
// run, never collide on the same service.
export function runTag(ledger) {
  const info = ledger.info();
  const inst = info.instance && info.instance !== '0' ? `-i${info.instance.replace(/[^A-Za-z0-9._-]/g, '_')}` : '';
  return `${info.run}${inst}`;
}

// localVUs is the number of VUs this instance runs at its peak (its share in a distributed run).
export function localVUs(fallback) {
  const n = exec.instance.vusInitialized;
  return n > 0 ? n : fallback;
}

function chunks(list, n) {
  const out = [];
  for (let i = 0; i < list.length; i += n) out.push(list.slice(i, i + n));
  return out;
}

// forEachBatch sends requests built by make(item) in http.batch calls of cfg.teardownBatch and hands
// each (item, response) to done.
export function forEachBatch(api, items, make, done) {
  for (const part of chunks(items, api.cfg.teardownBatch)) {
    const res = http.batch(part.map(make));
    for (let i = 0; i < part.length; i++) done(part[i], res[i]);
  }
}

// accountPrefix is the name of the accounts provision creates, without their index.
export function accountPrefix(cfg, tag, label) {
  return `${cfg.userPrefix}${tag}-${label}`;
}

// provision returns n accounts [{id}] for the run: created with `credits` through the test endpoint
// (names userPrefix + tag + label + index), or, without test endpoints, the configured pre-provisioned
// accounts (all of them; scenarios map VUs onto them round-robin). Tokens go to the ledger's memory
// (ledger.setToken), not into the returned accounts: setup's data ends up in --summary-export and in
// handleSummary's data, and a bearer token must not.
export function provision(api, n, credits, tag, label) {
  const cfg = api.cfg;
  if (!cfg.testEndpoints) {
    return cfg.accounts.map((a) => {
      ledger.setToken(a.id, a.token);
      return { id: a.id };
    });
  }
  const ids = [];
  for (let i = 0; i < n; i++) ids.push(`${accountPrefix(cfg, tag, label)}${i}`);
  const accounts = [];
  forEachBatch(api, ids, (id) => api.createUserReq(id, credits), (id, res) => {
    const token = ok(res) ? api.token(res) : undefined;
    if (typeof token !== 'string') {
      let hint = '';
      if (res.status === 404) hint = ' The test endpoints look disabled: start creditd with --test-endpoints, or list accounts in a CONFIG file.';
      if (ok(res)) hint = ` The answer has no token at fields.token ("${cfg.fields.token}"): set fields.token.`;
      exec.test.abort(`cannot create test account ${id}: POST ${api.url('createUser')} gave ${describe(res)}.${hint}`);
    }
    ledger.setToken(id, token);
    accounts.push({ id });
  });
  return accounts;
}

// openAll takes each account's opening snapshot (a balance read of the idle account) into the ledger.
export function openAll(api, ledger, accounts) {
  forEachBatch(api, accounts, (a) => api.balanceReq(a, true), (a, res) => {
    const snap = api.snapshot(res);
    if (!snap) {
      const hint = ok(res) ? ` (no number at fields.balance "${api.cfg.fields.balance}": set fields.balance)` : '';
      exec.test.abort(`cannot read the opening balance of ${a.id}: GET ${api.url('balance')} gave ${describe(res)}${hint}`);
    }
    ledger.open(a.id, snap);
  });
}

// removeAll deletes the run's test accounts unless keepAccounts (KEEP_ACCOUNTS=1) is set or they were
// pre-provisioned. Failures are logged, not fatal: the verdict is already in.
export function removeAll(api, accounts) {
  const cfg = api.cfg;
  if (!cfg.testEndpoints) return;
  if (cfg.keepAccounts) {
    console.log(`kept ${accounts.length} test accounts (${accounts.length ? accounts[0].id : ''}...) for inspection`);
    return;
  }
  let failed = 0;
  forEachBatch(api, accounts, (a) => api.deleteUserReq(a), (a, res) => {
    if (!ok(res)) failed++;
  });
  if (failed > 0) console.warn(`${failed} of ${accounts.length} test accounts could not be deleted`);
}

// --- shared accounts (SHARED_ACCOUNTS=1): the instances of a distributed run race on the same accounts.
// Names derive from RUN_ID; the first instance (execution segment starting at 0) creates and snapshots
// them, then creates a "ready" marker account; the others wait for the marker and take tokens through
// paths.issueToken. At the end each other instance resolves its unknown outcomes and creates a "done"
// marker; the first waits for every one before it takes the closing snapshots, so the books close after
// the last request of every instance.

function markerName(cfg, label, what) {
  return `${cfg.userPrefix}${cfg.runId}-${label}-${what.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

// firstInstance reports whether this instance opens and closes the shared accounts.
export function firstInstance(ledger) {
  const seg = ledger.info().segment;
  if (!seg) return true;
  const from = seg.split(':')[0].trim().replace('%', '');
  return Number(from) === 0 || /^0+\//.test(from);
}

// otherSegments lists the segments of the run's sequence other than this instance's.
function otherSegments(ledger) {
  const info = ledger.info();
  if (!info.segment) return [];
  if (!info.sequence) {
    exec.test.abort('SHARED_ACCOUNTS with --execution-segment needs --execution-segment-sequence (the same on every instance): the first instance waits for the others by their segments');
  }
  const p = info.sequence.split(',').map((x) => x.trim());
  const out = [];
  for (let i = 0; i + 1 < p.length; i++) {
    const s = `${p[i]}:${p[i + 1]}`;
    if (s !== info.segment) out.push(s);
  }
  return out;
}

// waitFor polls paths.issueToken until account id exists (returning its token) or sharedWaitMs passes.
function waitFor(api, id) {
  const deadline = Date.now() + api.cfg.sharedWaitMs;
  for (;;) {
    const res = api.send(api.issueTokenReq(id));
    if (ok(res)) return api.token(res);
    if (res.status !== 404) {
      exec.test.abort(`shared accounts: POST ${api.url('issueToken')} for ${id} gave ${describe(res)}; set paths.issueToken to the service's endpoint giving a token for an existing account`);
    }
    if (Date.now() > deadline) return undefined;
    sleep(0.5);
  }
}

// sharedSetup returns the n shared accounts [{id}] of the run (tokens kept by ledger.setToken).
export function sharedSetup(api, ledger, n, credits, label) {
  const cfg = api.cfg;
  otherSegments(ledger); // checks the sequence early
  if (firstInstance(ledger)) {
    const accounts = provision(api, n, credits, cfg.runId, label);
    openAll(api, ledger, accounts);
    const res = api.send(api.createUserReq(markerName(cfg, label, 'ready'), 0));
    if (!ok(res)) exec.test.abort(`shared accounts: cannot create the ready marker: ${describe(res)}`);
    return accounts;
  }
  if (waitFor(api, markerName(cfg, label, 'ready')) === undefined) {
    exec.test.abort(`shared accounts: the first instance (segment starting at 0) did not create the accounts of run ${cfg.runId} within ${cfg.sharedWaitMs} ms`);
  }
  const accounts = [];
  for (let i = 0; i < n; i++) accounts.push({ id: `${accountPrefix(cfg, cfg.runId, label)}${i}` });
  forEachBatch(api, accounts, (a) => api.issueTokenReq(a.id), (a, res) => {
    const token = ok(res) ? api.token(res) : undefined;
    if (typeof token !== 'string') exec.test.abort(`shared accounts: no token for ${a.id}: ${describe(res)}`);
    ledger.setToken(a.id, token);
  });
  return accounts;
}

// sharedDone tells the first instance that this one has resolved its unknown outcomes.
export function sharedDone(api, ledger, label) {
  const res = api.send(api.createUserReq(markerName(api.cfg, label, `done-${ledger.info().segment}`), 0));
  if (!ok(res)) console.error(`shared accounts: cannot create the done marker: ${describe(res)}`);
}

// sharedWaitOthers waits (up to sharedWaitMs) for every other instance's done marker; it returns the
// markers to delete with the accounts.
export function sharedWaitOthers(api, ledger, label) {
  const markers = [{ id: markerName(api.cfg, label, 'ready') }];
  for (const seg of otherSegments(ledger)) {
    const id = markerName(api.cfg, label, `done-${seg}`);
    if (waitFor(api, id) === undefined) {
      console.error(`shared accounts: instance ${seg} did not finish within ${api.cfg.sharedWaitMs} ms; closing the books without it (its requests may come after the closing snapshots)`);
    } else {
      markers.push({ id });
    }
  }
  return markers;
}
