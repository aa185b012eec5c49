package ledgerjs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/extension/ledger"
	"github.com/tallyhq/tally/modules/modulestest"
)

// A whole run through the runtime: every function of the API, on a correct
// history, ends with a pass, a journal on disk and a summary section.
func TestEveryFunction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	journal := filepath.Join(dir, "j-{instance}.ndjson")
	e, err := modulestest.New(t, `
import ledger from 'k6/x/ledger';
import { begin as namedBegin } from 'k6/x/ledger';
ledger.configure({ run: 'r1', lowThreshold: 50, settleMs: 1, journal: `+jsString(journal)+`,
  rules: { insufficient: ['402'], rejected: ['4xx'], unknown: ['0', '408', '5xx'],
           fields: { balanceAfter: 'remaining_credits', version: 'version', txId: 'transaction_id', charged: 'credits_charged' } } });
const res = (status, body, extra) => Object.assign({ status, body: body === undefined ? '' : JSON.stringify(body), error_code: 0 }, extra || {});
export function setup() {
  ledger.open('alice', res(200, { user_id: 'alice', token: 't', remaining_credits: 100 }));
  ledger.open('bob', { balance: 10, used: 0, version: 0, lowNotified: false, depletedNotified: false });
}
export default function () {
  const out = [];
  let op = ledger.begin('alice', { feature: 'ai_search', amount: 5 });
  out.push(op.key, op.id, op.account, op.feature, op.amount, JSON.stringify(op));
  ledger.settle(op, { outcome: 'ok', balanceAfter: 95, version: 1, txId: 'tx1', charged: 5 });
  op = namedBegin('alice', { feature: 'ai_search', amount: 5 });
  out.push(ledger.settleHttp(op, res(200, { remaining_credits: 90, version: 2, transaction_id: 'tx2', credits_charged: 5 })));
  op = ledger.begin('alice', { feature: 'ai_search', amount: 5 });
  out.push(ledger.settleHttp(op, res(0, undefined, { error_code: 1050 })));   // timed out; the server applied it
  op = ledger.begin('bob', { feature: 'rec', amount: 30, key: 'my-key-1' });
  out.push(op.key, ledger.settleHttp(op, res(402, { error: 'insufficient_credits', remaining_credits: 10 })));
  op = ledger.begin('bob', { feature: 'rec', amount: 3 });
  ledger.settle(op, { outcome: 'rejected', status: 400 });
  op = ledger.begin('bob', { feature: 'rec', amount: 20 });
  ledger.settle(op, { outcome: 'insufficient', balanceSeen: 10 });
  const rd = ledger.beginRead('alice');
  out.push(ledger.settleRead(rd, { balance: 90, used: 10, version: 2 }));
  out.push(ledger.settleRead(ledger.beginRead('alice'), res(500, { error: 'boom' })));
  globalThis.out = out;
}
export function teardown() {
  const out = [];
  out.push(ledger.waitSettled() >= 0);
  const u = ledger.unknowns();
  out.push(u.length, u[0].account, u[0].amount);
  out.push(ledger.settleReplay(u[0].id, res(200, { remaining_credits: 85, version: 3, transaction_id: 'tx3', credits_charged: 5 })));
  ledger.close('alice', { remaining_credits: 85, used_credits: 15, version: 3, low_balance_notified: false, depleted_notified: false });
  ledger.close('bob', res(200, { balance: 10, remaining_credits: 10, used_credits: 0, version: 0, low_balance_notified: false, depleted_notified: false }));
  out.push(ledger.notifications('alice', res(200, { notifications: [] })));
  out.push(ledger.notifications('bob', []));
  out.push(ledger.serverLog('alice', res(200, { transactions: [
    { id: 'tx1', feature: 'ai_search', amount: 5, balance_after: 95, idempotency_key: 'r1:0:1' },
    { id: 'tx2', feature: 'ai_search', amount: 5, balance_after: 90, idempotency_key: 'r1:0:2' } ] })));
  out.push(ledger.serverLog('alice', [{ id: 'tx3', feature: 'ai_search', amount: 5, balanceAfter: 85, key: 'r1:0:3' }]));
  out.push(ledger.serverLog('bob', []));
  const report = ledger.verify({ porcupine: 'auto', accountBudgetMs: 2000, totalBudgetMs: 5000, maxOps: 1000 });
  out.push(report.verdict, report.totals.accounts, report.accounts.alice.verdict, report.accounts.alice.linearizable,
           report.discrepancies ? Object.keys(report.discrepancies).length : -1);
  out.push(ledger.text().split('\n')[0], ledger.text(report).split('\n')[0]);
  const info = ledger.info();
  out.push(info.run, info.instance, info.settleMs);
  ledger.exportJournal(`+jsString(filepath.Join(dir, "export.ndjson"))+`);
  globalThis.out = out;
}`, modulestest.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e.Setup()
	v := e.VU(1)
	v.Iterate(1)
	got := v.Global("out").([]any)
	want := []any{"r1:0:1", int64(1), "alice", "ai_search", int64(5),
		`{"id":1,"key":"r1:0:1","account":"alice","feature":"ai_search","amount":5}`,
		"ok", "unknown", "my-key-1", "insufficient", true, false}
	if !equalJSON(got, want) {
		t.Errorf("iteration:\n got  %v\n want %v\nlogs: %s", got, want, e.Logs())
	}
	td := e.Teardown()
	got = td.Global("out").([]any)
	want = []any{true, int64(1), "alice", int64(5), "ok", int64(0), int64(0), int64(2), int64(1), int64(0),
		"pass", int64(2), "pass", "ok", int64(0), "ledger: PASS", "ledger: PASS", "r1", "0", int64(1)}
	if !equalJSON(got, want) {
		t.Errorf("teardown:\n got  %v\n want %v\nlogs: %s", got, want, e.Logs())
	}
	root := rootOf(t, e)
	if s := root.SummaryText(); !strings.HasPrefix(s, "ledger: PASS\n") || !strings.Contains(s, "deductions    6:") {
		t.Errorf("summary text:\n%s", s)
	}
	if err := root.Close(); err != nil {
		t.Fatal(err)
	}
	// The streamed journal (j-0.ndjson) and the exported one verify alike.
	for _, name := range []string{"j-0.ndjson", "export.ndjson"} {
		p := filepath.Join(dir, name)
		lines := readLines(t, p)
		if !strings.Contains(lines[len(lines)-1], `"t":"ftr"`) {
			t.Errorf("%s: no footer: %s", name, lines[len(lines)-1])
		}
		r, err := ledger.VerifyJournals(context.Background(), []string{p}, ledger.VerifyOptions{})
		if err != nil || r.Verdict != ledger.Pass || r.Totals.Counts.Deductions != 6 {
			t.Errorf("%s: verdict %v, %+v, %v", name, r.Verdict, r.Totals.Counts, err)
		}
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// Misuse and bad input throw a JS error that names the function and the
// mistake; argument errors are TypeErrors.
func TestErrors(t *testing.T) {
	t.Parallel()
	const prelude = `
const res = (status, body, extra) => Object.assign({ status, body: body === undefined ? '' : JSON.stringify(body), error_code: 0 }, extra || {});
`
	tests := []struct {
		name, init, body string
		want             string // "Name: message substring"
	}{
		{"amount zero", "", `ledger.begin('a', { feature: 'f', amount: 0 })`, "TypeError: ledger.begin: amount must be a positive whole number of credits, got the number 0"},
		{"amount fraction", "", `ledger.begin('a', { feature: 'f', amount: 1.5 })`, "TypeError: ledger.begin: amount must be a positive whole number"},
		{"amount string", "", `ledger.begin('a', { feature: 'f', amount: '5' })`, `TypeError: ledger.begin: amount must be a positive whole number of credits, got "5"`},
		{"amount negative", "", `ledger.begin('a', { feature: 'f', amount: -3 })`, "TypeError: ledger.begin: amount must be"},
		{"no amount", "", `ledger.begin('a', { feature: 'f' })`, "TypeError: ledger.begin: the deduction has no amount"},
		{"misspelt field", "", `ledger.begin('a', { feature: 'f', amout: 5 })`, `TypeError: ledger.begin: the deduction has no amount`},
		{"no feature", "", `ledger.begin('a', { amount: 5 })`, `TypeError: ledger.begin: feature: want the feature's name (e.g. 'ai_search'), got undefined`},
		{"no deduction", "", `ledger.begin('a')`, "TypeError: ledger.begin: deduction {feature, amount, key?}: want an object, got undefined"},
		{"unknown account", "", `ledger.begin('zed', { feature: 'f', amount: 5 })`, `Error: ledger.begin: account "zed" was never opened`},
		{"empty account", "", `ledger.begin('', { feature: 'f', amount: 5 })`, "TypeError: ledger.begin: account: want a non-empty account id"},
		{"account object", "", `ledger.begin({}, { feature: 'f', amount: 5 })`, "TypeError: ledger.begin: account: want an account id (a string), got an object"},
		{"duplicate key", "", `ledger.begin('a', { feature: 'f', amount: 5, key: 'k' }); ledger.begin('a', { feature: 'f', amount: 5, key: 'k' })`, "Error: ledger.begin: begin on \"a\": key \"k\": idempotency key already used"},
		{"settle twice", "", `const op = ledger.begin('a', { feature: 'f', amount: 5 }); ledger.settle(op, { outcome: 'rejected', status: 400 }); ledger.settle(op, { outcome: 'rejected' })`, "Error: ledger.settle: settle op 1: operation already settled"},
		{"settleHttp twice", "", `const op = ledger.begin('a', { feature: 'f', amount: 5 }); ledger.settleHttp(op, res(200)); ledger.settleHttp(op, res(200))`, "operation already settled"},
		{"bad outcome name", "", `ledger.settle(ledger.begin('a', { feature: 'f', amount: 5 }), { outcome: 'fine' })`, `TypeError: ledger.settle: outcome "fine": invalid outcome (want ok, insufficient, rejected or unknown)`},
		{"no outcome", "", `ledger.settle(ledger.begin('a', { feature: 'f', amount: 5 }), { balanceAfter: 5 })`, "TypeError: ledger.settle: outcome: want 'ok', 'insufficient', 'rejected' or 'unknown', got undefined"},
		{"field of another outcome", "", `ledger.settle(ledger.begin('a', { feature: 'f', amount: 5 }), { outcome: 'insufficient', balanceAfter: 5 })`, `TypeError: ledger.settle: "balanceAfter" does not belong to a "insufficient" outcome (keys: outcome, balanceSeen)`},
		{"snake case outcome field", "", `ledger.settle(ledger.begin('a', { feature: 'f', amount: 5 }), { outcome: 'ok', remaining_credits: 5 })`, `"remaining_credits" does not belong to a "ok" outcome`},
		{"bad cause", "", `ledger.settle(ledger.begin('a', { feature: 'f', amount: 5 }), { outcome: 'unknown', cause: 'gremlins' })`, `TypeError: ledger.settle: cause "gremlins"`},
		{"balance not a number", "", `ledger.settle(ledger.begin('a', { feature: 'f', amount: 5 }), { outcome: 'ok', balanceAfter: '95' })`, "TypeError: ledger.settle: balanceAfter: want a whole number, got \"95\""},
		{"fake op", "", `ledger.settle({ id: 1, key: 'x' }, { outcome: 'ok' })`, "TypeError: ledger.settle: want an operation returned by ledger.begin() or ledger.unknowns(), got an object"},
		{"settleHttp without response", "", `ledger.settleHttp(ledger.begin('a', { feature: 'f', amount: 5 }), {})`, "TypeError: ledger.settleHttp: want a k6 http Response"},
		{"open twice", "", `ledger.open('a', { balance: 1 })`, `Error: ledger.open: open "a": account already opened`},
		{"snapshot without balance", "", `ledger.open('b', { used: 1 })`, `TypeError: ledger.open: account "b": the snapshot has no balance`},
		{"one flag", "", `ledger.open('b', { balance: 1, lowNotified: true })`, "give both lowNotified and depletedNotified, or neither"},
		{"failed balance response", "", `ledger.open('b', res(401, { error: 'unauthorized' }))`, `TypeError: ledger.open: account "b": the balance response has status 401, not 2xx: {"error":"unauthorized"}`},
		{"timed out balance response", "", `ledger.open('b', res(0, undefined, { error_code: 1050 }))`, "status 0, not 2xx (the request timed out)"},
		{"close twice", "", `ledger.close('a', { balance: 100 }); ledger.close('a', { balance: 100 })`, `Error: ledger.close: close "a": account already closed`},
		{"replay of a settled op", "", `const op = ledger.begin('a', { feature: 'f', amount: 5 }); ledger.settle(op, { outcome: 'ok' }); ledger.settleReplay(op.id, { outcome: 'ok' })`, "operation is not unknown or pending"},
		{"replay of no op", "", `ledger.settleReplay(99, { outcome: 'ok' })`, "Error: ledger.settleReplay: settle replay of op 99: no such operation"},
		{"settle a read twice", "", `const rd = ledger.beginRead('a'); ledger.settleRead(rd, { balance: 100 }); ledger.settleRead(rd, { balance: 100 })`, "Error: ledger.settleRead: read 1 of \"a\": operation already settled"},
		{"notifications failed", "", `ledger.notifications('a', res(500))`, "TypeError: ledger.notifications: account \"a\": the notifications response has status 500"},
		{"notice without kind", "", `ledger.notifications('a', [{ remaining_credits: 3 }])`, "notice [0]: no kind"},
		{"log without amount", "", `ledger.serverLog('a', [{ id: 't' }])`, "transaction [0]: no amount"},
		{"bad verify option", "", `ledger.verify({ porcupine: 'always' })`, `TypeError: ledger.verify: deep check mode "always": want auto or off`},
		{"unknown verify option", "", `ledger.verify({ budget: 1 })`, `TypeError: ledger.verify: unknown option "budget"`},
		{"text without verify", "", `ledger.text()`, "Error: ledger.text: no report: call ledger.verify() first"},
		{"merge nothing", "", `ledger.merge([])`, "TypeError: ledger.merge: want journal paths"},
		{"merge missing file", "", `ledger.merge('no-such-journal.ndjson')`, "Error: ledger.merge: journal no-such-journal.ndjson: open no-such-journal.ndjson"},
		{"configure conflict in use", "", `ledger.configure({ run: 'other' })`, `Error: ledger.configure: the ledger is already in use with other settings (run "r" vs "other")`},
		{"configure unknown setting", "", `ledger.configure({ lowTreshold: 5 })`, `TypeError: ledger.configure: unknown setting "lowTreshold"`},
		{"configure bad rules", "", `ledger.configure({ rules: { unknown: ['5xy'] } })`, `TypeError: ledger.configure: rules: unknown: status "5xy"`},
		{"configure bad field", "", `ledger.configure({ rules: { fields: { balance: 'a', balanceAfter: 'b' } } })`, "must name the same field"},
		{"configure run with spaces", "", `ledger.configure({ run: 'a b' })`, "want non-empty text without spaces"},
		{"in the init context", `ledger.begin('a', { feature: 'f', amount: 5 });`, ``, "not available in the init context"},
		{"conflicting configure in init", `ledger.configure({ run: 'r', lowThreshold: __VU === 0 ? 10 : 20 });`, ``, "settings (lowThreshold 10 vs 20): every configure() call must give the same settings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			init := tc.init
			if init == "" {
				init = `ledger.configure({ run: 'r' });`
			}
			script := `import ledger from 'k6/x/ledger';` + prelude + init + `
export function setup() { ledger.open('a', { balance: 100 }); }
export default function () {
  try { ` + tc.body + `; globalThis.got = 'no error'; } catch (e) { globalThis.got = e.name + ': ' + e.message; }
}`
			e, err := modulestest.New(t, script, modulestest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			v0, err := e.NewVU(0)
			if err == nil {
				err = v0.RunSetup(context.Background())
			}
			if err == nil {
				vu, verr := e.NewVU(1)
				if verr != nil {
					err = verr
				} else {
					vu.Iterate(1)
					got, _ := vu.Global("got").(string)
					if !strings.Contains(got, tc.want) {
						t.Errorf("got  %s\nwant %s", got, tc.want)
					}
					return
				}
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant %s", err, tc.want)
			}
		})
	}
}

// settleHttp maps Responses by the configured rules: statuses, timeouts
// (error_code 1050) and connection errors, and the body's fields.
func TestOutcomeMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rules string
		res   string // JS Response-like object
		want  string // outcome name
		end   string // substring of the journal's end line
	}{
		{"200 with balance", "", `{ status: 200, body: '{"remaining_credits":95,"version":4,"transaction_id":"t9","credits_charged":5}' }`, "ok", `"o":"ok","bal":95,"ver":4,"tx":"t9","chg":5`},
		{"200 garbled body", "", `{ status: 200, body: 'not json' }`, "ok", `"o":"ok","st":200,"m":`},
		{"200 without body", "", `{ status: 200, body: null }`, "ok", `"o":"ok","st":200,"m":`},
		{"200 binary body", "", `{ status: 200, body: new Uint8Array([123,34,114,101,109,97,105,110,105,110,103,95,99,114,101,100,105,116,115,34,58,57,48,125]).buffer }`, "ok", `"bal":90`},
		{"201", "", `{ status: 201, body: '{}' }`, "ok", `"o":"ok"`},
		{"402 with balance", "", `{ status: 402, body: '{"error":"insufficient_credits","remaining_credits":3}' }`, "insufficient", `"o":"insufficient","bal":3`},
		{"400", "", `{ status: 400, body: '{}' }`, "rejected", `"o":"rejected","st":400`},
		{"403", "", `{ status: 403 }`, "rejected", `"st":403`},
		{"408 unknown", "", `{ status: 408 }`, "unknown", `"o":"unknown","st":408,"c":"error"`},
		{"500", "", `{ status: 500, body: 'oops' }`, "unknown", `"st":500,"c":"error"`},
		{"503", "", `{ status: 503 }`, "unknown", `"st":503`},
		{"timeout", "", `{ status: 0, error_code: 1050, error: 'request timeout' }`, "unknown", `"o":"unknown","c":"timeout"`},
		{"connection refused", "", `{ status: 0, error_code: 1212, error: 'dial: connection refused' }`, "unknown", `"o":"unknown","c":"error"`},
		{"302", "", `{ status: 302 }`, "unknown", `"st":302`},
		{"custom rules: 409 insufficient", `{ insufficient: ['402', '409'] }`, `{ status: 409, body: '{"remaining_credits":1}' }`, "insufficient", `"bal":1`},
		{"custom rules: 5xx rejected", `{ rejected: ['4xx', '5xx'], unknown: ['0'] }`, `{ status: 500 }`, "rejected", `"st":500`},
		{"custom fields", `{ fields: { balanceAfter: 'data.left', txId: 'id', version: '', charged: 'cost' } }`, `{ status: 200, body: '{"data":{"left":7},"id":12,"version":3,"cost":2}' }`, "ok", `"o":"ok","bal":7,"tx":"12","chg":2`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rules := ""
			if tc.rules != "" {
				rules = ", rules: " + tc.rules
			}
			e := modulestest.Must(t, `import ledger from 'k6/x/ledger';
ledger.configure({ run: 'r'`+rules+` });
export default function () {
  ledger.open('a', { balance: 100 });
  globalThis.got = ledger.settleHttp(ledger.begin('a', { feature: 'f', amount: 5 }), `+tc.res+`);
}`, modulestest.Options{})
			v := e.VU(1)
			v.Iterate(1)
			if got := v.Global("got"); got != tc.want {
				t.Errorf("outcome %v, want %s\nlogs: %s", got, tc.want, e.Logs())
			}
			var b strings.Builder
			if err := rootOf(t, e).Ledger().WriteJournal(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tc.end) {
				t.Errorf("journal lacks %s:\n%s", tc.end, b.String())
			}
		})
	}
}

// The core's samples reach the calling VU's stream, tagged with the VU's
// tags plus the sample's own; every counter starts at 0; verify() reports
// the verdict's metrics.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := modulestest.Must(t, `import ledger from 'k6/x/ledger';
ledger.configure({ run: 'r' });
export function setup() { ledger.open('a', { balance: 100 }); }
export default function () {
  const op = ledger.begin('a', { feature: 'ai_search', amount: 5 });
  ledger.settle(op, { outcome: 'ok', balanceAfter: 95 });
  ledger.settle(ledger.begin('a', { feature: 'ai_search', amount: 5 }), { outcome: 'ok', balanceAfter: 95 }); // a repeated balance: a lost update
  ledger.settle(ledger.begin('a', { feature: 'rec', amount: 3 }), { outcome: 'unknown', cause: 'timeout' });
}
export function teardown() {
  ledger.close('a', { balance: 95 });
  globalThis.report = ledger.verify();
}`, modulestest.Options{})
	e.Setup()
	for _, m := range ledger.Metrics {
		if e.Registry().Get(m.Name) == nil {
			t.Errorf("metric %s not registered in the init context", m.Name)
		}
	}
	v := e.VU(1)
	v.Iterate(1)
	e.Teardown()

	check := func(metric string, tags map[string]string, wantSum float64, wantN int) {
		t.Helper()
		sum, n := e.Samples().Sum(metric, tags)
		if sum != wantSum || (wantN >= 0 && n != wantN) {
			t.Errorf("%s %v: sum %v over %d samples, want %v over %d", metric, tags, sum, n, wantSum, wantN)
		}
	}
	for _, m := range ledger.Metrics {
		if m.Type == ledger.Counter {
			// the zero sample, in setup (VU 0), with the run's tags
			check(m.Name, map[string]string{"testid": "t1", "group": "::setup"}, 0, 1)
		}
	}
	check("ledger_ops", map[string]string{"kind": "deduct", "outcome": "ok", "feature": "ai_search", "scenario": "default", "testid": "t1"}, 2, 2)
	check("ledger_ops", map[string]string{"kind": "deduct", "outcome": "unknown", "feature": "rec"}, 1, 1)
	check("ledger_credits_confirmed", map[string]string{"feature": "ai_search", "scenario": "default"}, 10, 2)
	check("ledger_online_violations", map[string]string{"kind": "lost_update", "scenario": "default"}, 1, 1)
	check("ledger_discrepancies", map[string]string{"kind": "lost_update", "group": "::teardown"}, 2, 1)
	check("ledger_credits_leaked", map[string]string{"group": "::teardown"}, 5, 1)
	check("ledger_unknown_outcomes", map[string]string{"group": "::teardown"}, 1, 1)
	check("ledger_accounts_verified", nil, 0, 1)
	if s := rootOf(t, e).SummaryText(); !strings.Contains(s, "ledger: FAIL") || !strings.Contains(s, "lost_update") {
		t.Errorf("summary:\n%s", s)
	}
	verdict := rootOf(t, e).Verdict()
	if v := verdict; v == nil || v.Outcome != "fail" || v.Headline != "ledger: FAIL" || len(v.Findings) == 0 ||
		v.Findings[0].Kind != "lost_update" || !strings.HasPrefix(v.Findings[0].Subject, "account ") ||
		!strings.Contains(v.Findings[0].Text, "expected ") || !strings.Contains(strings.Join(v.Figures, "\n"), "discrepancies ") {
		t.Errorf("verdict: %+v", verdict)
	}
}

// One Ledger serves every VU: ids are unique across VUs, an account opened
// in setup is known to every VU, and equal configure() calls from every
// VU's init context agree.
func TestSharedAcrossVUs(t *testing.T) {
	t.Parallel()
	e := modulestest.Must(t, `import ledger from 'k6/x/ledger';
ledger.configure({ run: 'shared', instance: 'i1' });
export function setup() { ledger.open('a', { balance: 1000 }); }
export default function () {
  const ids = [];
  for (let k = 0; k < 10; k++) {
    const op = ledger.begin('a', { feature: 'f', amount: 1 });
    ids.push(op.id);
    ledger.settle(op, { outcome: 'ok' });
  }
  globalThis.ids = ids;
}
export function teardown() {
  ledger.close('a', { balance: 960 });
  globalThis.report = ledger.verify();
}`, modulestest.Options{})
	e.Setup()
	seen := map[int64]bool{}
	done := make(chan []any, 4)
	for id := uint64(1); id <= 4; id++ {
		v := e.VU(id)
		go func() {
			v.Iterate(1)
			done <- v.Global("ids").([]any)
		}()
	}
	for k := 0; k < 4; k++ {
		for _, id := range <-done {
			n := id.(int64)
			if seen[n] {
				t.Errorf("id %d given twice", n)
			}
			seen[n] = true
		}
	}
	td := e.Teardown()
	r := td.Global("report").(map[string]any)
	if r["verdict"] != "pass" {
		t.Errorf("verdict %v: %v", r["verdict"], r)
	}
	if n := rootOf(t, e).Ledger().Unknowns(); len(n) != 0 {
		t.Errorf("unknowns: %v", n)
	}
	var b strings.Builder
	rootOf(t, e).Ledger().WriteJournal(&b)
	if !strings.Contains(b.String(), `"key":"shared:i1:40"`) {
		t.Errorf("keys are not run:instance:id:\n%.400s", b.String())
	}
}

// Without configure(), the run id is time-based and random, the instance
// comes from the execution segment, and {instance} in the journal path is
// made file-name safe.
func TestDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seg := "0:1/2"
	e, err := modulestest.New(t, `import ledger from 'k6/x/ledger';
ledger.configure({ journal: `+jsString(filepath.Join(dir, "j-{instance}-{run}.ndjson"))+` });
export default function () {
  ledger.open('a', { balance: 10 });
  globalThis.info = ledger.info();
  globalThis.key = ledger.begin('a', { feature: 'f', amount: 1 }).key;
}`, modulestest.Options{Dir: dir, ExecutionSegment: seg})
	if err != nil {
		t.Fatal(err)
	}
	v := e.VU(1)
	v.Iterate(1)
	info := v.Global("info").(map[string]any)
	run := info["run"].(string)
	if !regexp.MustCompile(`^\d{8}T\d{6}-[0-9a-f]{6}$`).MatchString(run) || info["instance"] != "0:1/2" {
		t.Errorf("info = %v", info)
	}
	if key := v.Global("key"); key != run+":0:1/2:1" {
		t.Errorf("key = %v", key)
	}
	want := filepath.Join(dir, "j-0-1-2-"+run+".ndjson")
	if info["journal"] != want {
		t.Errorf("journal = %v, want %s", info["journal"], want)
	}
	if err := rootOf(t, e).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(want); err != nil {
		t.Error(err)
	}
	if s := rootOf(t, e).SummaryText(); s != "" {
		t.Errorf("summary without verify() = %q", s)
	}
	if v := rootOf(t, e).Verdict(); v != nil {
		t.Errorf("verdict without verify() = %+v", v)
	}
}

func TestRunID(t *testing.T) {
	t.Parallel()
	m := New()
	m.Now = func() time.Time { return time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC) }
	m.Random = strings.NewReader("\xa1\xb2\xc3")
	id, err := m.runID()
	if err != nil || id != "20250102T150405-a1b2c3" {
		t.Errorf("run id %q, %v", id, err)
	}
}

// Real k6/http Responses: a body, a timeout (error_code 1050) and a refused
// connection.
func TestRealResponses(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow": // no answer until the test ends: the client times out
			select {
			case <-r.Context().Done():
			case <-release:
			}
		case "/poor":
			w.WriteHeader(402)
			fmt.Fprint(w, `{"error":"insufficient_credits","remaining_credits":2}`)
		default:
			fmt.Fprint(w, `{"success":true,"credits_charged":5,"remaining_credits":95,"transaction_id":"tx-1","version":1}`)
		}
	}))
	defer srv.Close()
	defer close(release)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	e := modulestest.Must(t, `import ledger from 'k6/x/ledger';
import http from 'k6/http';
ledger.configure({ run: 'r' });
export default function () {
  ledger.open('a', { balance: 100 });
  const got = [];
  for (const [url, params] of [[`+jsString(srv.URL+"/ok")+`, {}], [`+jsString(srv.URL+"/poor")+`, {}],
                               [`+jsString(srv.URL+"/slow")+`, { timeout: '100ms' }], [`+jsString(closedURL)+`, {}]]) {
    const op = ledger.begin('a', { feature: 'ai_search', amount: 5 });
    const res = http.post(url, '{}', Object.assign({ headers: { 'Idempotency-Key': op.key } }, params));
    got.push(ledger.settleHttp(op, res));
  }
  globalThis.got = got.join(',');
}`, modulestest.Options{})
	v := e.VU(1)
	v.Iterate(1)
	if got := v.Global("got"); got != "ok,insufficient,unknown,unknown" {
		t.Errorf("outcomes %v\nlogs: %s", got, e.Logs())
	}
	var b strings.Builder
	rootOf(t, e).Ledger().WriteJournal(&b)
	for _, want := range []string{`"o":"ok","bal":95,"ver":1,"tx":"tx-1","chg":5`, `"o":"insufficient","bal":2`, `"c":"timeout"`, `"o":"unknown","c":"error"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("journal lacks %s:\n%s", want, b.String())
		}
	}
}

// configure() calls must agree, before and after the Ledger exists.
func TestConfigureAgreement(t *testing.T) {
	t.Parallel()
	m := New()
	a := settings{run: "r", low: 10}
	if err := m.configure(a); err != nil {
		t.Fatal(err)
	}
	if err := m.configure(a); err != nil {
		t.Errorf("same settings twice: %v", err)
	}
	if err := m.configure(settings{run: "r", low: 20}); err == nil || !strings.Contains(err.Error(), "conflicting settings (lowThreshold 10 vs 20)") {
		t.Errorf("conflict: %v", err)
	}
	if _, err := m.create("", ""); err != nil {
		t.Fatal(err)
	}
	if err := m.configure(a); err != nil {
		t.Errorf("same settings after first use: %v", err)
	}
	if err := m.configure(settings{run: "r2", low: 10}); err == nil || !strings.Contains(err.Error(), `already in use with other settings (run "r" vs "r2")`) {
		t.Errorf("after first use: %v", err)
	}
	fresh := New()
	if _, err := fresh.create("", ""); err != nil {
		t.Fatal(err)
	}
	if err := fresh.configure(a); err == nil || !strings.Contains(err.Error(), "already in use with the default settings") {
		t.Errorf("configure after use with defaults: %v", err)
	}
}

// settle() checks an outcome's keys on a VU's first 16 calls and on every
// 64th call afterwards.
func TestStrictKeysSampled(t *testing.T) {
	t.Parallel()
	e := modulestest.Must(t, `import ledger from 'k6/x/ledger';
ledger.configure({ run: 'r' });
export default function () {
  ledger.open('a', { balance: 1000 });
  const failed = [];
  for (let k = 1; k <= 200; k++) {
    const op = ledger.begin('a', { feature: 'f', amount: 1 });
    try { ledger.settle(op, k === 3 || k > 16 ? { outcome: 'ok', balance_after: 1 } : { outcome: 'ok' }); }
    catch (e) { failed.push(k); ledger.settleHttp(op, { status: 200, body: '' }); }
  }
  globalThis.failed = failed.join(',');
}`, modulestest.Options{})
	v := e.VU(1)
	v.Iterate(1)
	if got := v.Global("failed"); got != "3,64,128,192" {
		t.Errorf("calls that threw: %v\nlogs: %s", got, e.Logs())
	}
}

// merge() brings another instance's journal into verify(): the report
// covers both instances' accounts.
func TestMerge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	other := filepath.Join(dir, "other.ndjson")
	script := func(inst, acct, teardown string) string {
		return `import ledger from 'k6/x/ledger';
ledger.configure({ run: 'm', instance: '` + inst + `' });
export function setup() { ledger.open('` + acct + `', { balance: 50 }); }
export default function () {
  ledger.settle(ledger.begin('` + acct + `', { feature: 'f', amount: 5 }), { outcome: 'ok', balanceAfter: 45 });
}
export function teardown() { ledger.close('` + acct + `', { balance: 45 }); ` + teardown + ` }`
	}
	a := modulestest.Must(t, script("i1", "x", "ledger.exportJournal("+jsString(other)+");"), modulestest.Options{})
	a.Setup()
	a.VU(1).Iterate(1)
	a.Teardown()
	b := modulestest.Must(t, script("i2", "y", "ledger.merge(["+jsString(other)+"]); globalThis.report = ledger.verify();"), modulestest.Options{})
	b.Setup()
	b.VU(1).Iterate(1)
	r := b.Teardown().Global("report").(map[string]any)
	totals := r["totals"].(map[string]any)
	if r["verdict"] != "pass" || totals["accounts"] != int64(2) || len(r["instances"].([]any)) != 2 {
		t.Errorf("report: verdict %v, totals %v, instances %v", r["verdict"], totals, r["instances"])
	}
	// each account was seen by one instance: its times stay exact
	for _, id := range []string{"x", "y"} {
		a := r["accounts"].(map[string]any)[id].(map[string]any)
		if !equalJSON(a["interval"], map[string]int{"lo": 45, "hi": 45, "end": 45}) || a["unknownTaken"] != int64(0) {
			t.Errorf("account %s: %v", id, a)
		}
	}
}

// rootOf returns the run's k6/x/ledger root module.
func rootOf(tb testing.TB, e *modulestest.Runtime) *RootModule {
	tb.Helper()
	for _, m := range e.Modules() {
		if r, ok := m.(*RootModule); ok {
			return r
		}
	}
	tb.Fatal("k6/x/ledger was not instantiated")
	return nil
}

// Tokens kept with setToken in setup are read by every VU with token(),
// and appear in no journal line.
func TestTokensShared(t *testing.T) {
	t.Parallel()
	e := modulestest.Must(t, `import ledger from 'k6/x/ledger';
ledger.configure({ run: 'tok', instance: 'i1' });
export function setup() {
  ledger.open('a', { balance: 10 });
  ledger.setToken('a', 'secret-abc');
  return { accounts: [{ id: 'a' }] };
}
export default function (data) {
  globalThis.got = ledger.token(data.accounts[0].id);
  globalThis.none = ledger.token('b') === undefined;
}`, modulestest.Options{})
	e.Setup()
	v := e.VU(1)
	v.Iterate(1)
	if got := v.Global("got"); got != "secret-abc" {
		t.Fatalf("token() = %v, want the token setup kept", got)
	}
	if v.Global("none") != true {
		t.Fatal("token() of an account without one must be undefined")
	}
	var b strings.Builder
	rootOf(t, e).Ledger().WriteJournal(&b)
	if strings.Contains(b.String(), "secret-abc") {
		t.Fatalf("the journal holds the token:\n%s", b.String())
	}
}
