package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/creditd"
	"github.com/tallyhq/tally/creditd/fault"
	"github.com/tallyhq/tally/creditd/httpapi"
	"github.com/tallyhq/tally/creditd/sqlite"
	"github.com/tallyhq/tally/creditd/storetest"
	"github.com/tallyhq/tally/creditd/token"
)

const base = httpapi.BasePath

// harness is a handler over a fresh in-memory SQLite store.
type harness struct {
	t     *testing.T
	db    *sqlite.DB
	svc   *creditd.Service
	auth  httpapi.Authenticator
	h     http.Handler
	store creditd.Store
}

type option func(*harness, *httpapi.Config)

func withFaults(spec string, env fault.Env) option {
	return func(h *harness, _ *httpapi.Config) {
		specs, err := fault.Parse(spec)
		if err != nil {
			h.t.Fatal(err)
		}
		h.svc.Store = fault.Wrap(h.db, h.db, specs, env)
	}
}

func withConfig(f func(*httpapi.Config)) option {
	return func(_ *harness, c *httpapi.Config) { f(c) }
}

func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	db := sqlite.NewDB(sqlite.Memory)
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &harness{t: t, db: db, auth: token.NewHMAC([]byte("test secret 0123456789"))}
	h.svc = &creditd.Service{Store: db, Rates: creditd.DefaultRates(), LowBalance: 50}
	cfg := httpapi.Config{Service: h.svc, Auth: h.auth, TestEndpoints: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(h, &cfg)
	}
	h.h = httpapi.NewHandler(cfg)
	return h
}

// do sends one request, with Content-Type: application/json when it has a body; header pairs are name,
// value, name, value...: a name sets its header, "+name" adds another value, "-name" removes it.
func (h *harness) do(method, path, tok, body string, header ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(header); i += 2 {
		switch name := header[i]; name[0] {
		case '+':
			req.Header.Add(name[1:], header[i+1])
		case '-':
			req.Header.Del(name[1:])
		default:
			req.Header.Set(name, header[i+1])
		}
	}
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, req)
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		h.t.Fatalf("%s %s: Content-Type %q, want application/json (body %s)", method, path, ct, w.Body)
	}
	return w
}

func (h *harness) createUser(user string, credits int64) string {
	h.t.Helper()
	w := h.do("POST", base+"/test/create-user", "", fmt.Sprintf(`{"user_id":%q,"initial_credits":%d}`, user, credits))
	if w.Code != 200 {
		h.t.Fatalf("create-user %s: %d %s", user, w.Code, w.Body)
	}
	var out struct{ Token string }
	decode(h.t, w, &out)
	return out.Token
}

func decode(t *testing.T, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
}

// body decodes an answer into a generic map (numbers as float64).
func body(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	decode(t, w, &m)
	return m
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	w := h.do("GET", "/health", "", "")
	if w.Code != 200 || !reflect.DeepEqual(body(t, w), map[string]any{"status": "ok", "store": "sqlite"}) {
		t.Fatalf("health: %d %s", w.Code, w.Body)
	}

	w = h.do("POST", base+"/test/create-user", "", `{"user_id":"alice","initial_credits":100}`)
	var created struct {
		UserID           string `json:"user_id"`
		Token            string `json:"token"`
		RemainingCredits int64  `json:"remaining_credits"`
	}
	decode(t, w, &created)
	if w.Code != 200 || created.UserID != "alice" || created.RemainingCredits != 100 || created.Token == "" {
		t.Fatalf("create-user: %d %s", w.Code, w.Body)
	}
	tok := created.Token

	w = h.do("GET", base+"/credits/balance", tok, "")
	want := map[string]any{"user_id": "alice", "balance": 100.0, "remaining_credits": 100.0, "used_credits": 0.0,
		"granted_credits": 100.0, "version": 0.0, "low_balance_notified": false, "depleted_notified": false}
	if got := body(t, w); w.Code != 200 || !reflect.DeepEqual(got, want) {
		t.Fatalf("balance: %d %v, want %v", w.Code, got, want)
	}

	w = h.do("POST", base+"/ai-search", tok, `{"query":"jazz","limit":3}`)
	var search struct {
		Results          []creditd.Result `json:"results"`
		CreditsCharged   int64            `json:"credits_charged"`
		RemainingCredits int64            `json:"remaining_credits"`
		TransactionID    int64            `json:"transaction_id"`
		Version          int64            `json:"version"`
	}
	decode(t, w, &search)
	if w.Code != 200 || len(search.Results) != 3 || search.CreditsCharged != 5 || search.RemainingCredits != 95 || search.TransactionID <= 0 || search.Version != 1 {
		t.Fatalf("ai-search: %d %s", w.Code, w.Body)
	}

	w = h.do("GET", base+"/ai-recommendations?limit=2", tok, "")
	decode(t, w, &search)
	if w.Code != 200 || len(search.Results) != 2 || search.CreditsCharged != 3 || search.RemainingCredits != 92 || search.Version != 2 {
		t.Fatalf("ai-recommendations: %d %s", w.Code, w.Body)
	}
	w = h.do("GET", base+"/ai-recommendations", tok, "")
	decode(t, w, &search)
	if w.Code != 200 || len(search.Results) != creditd.DefaultResults || search.RemainingCredits != 89 {
		t.Fatalf("ai-recommendations without limit: %d %s", w.Code, w.Body)
	}

	w = h.do("POST", base+"/credits/deduct", tok, `{"user_id":"alice","feature":"live_dubbing","usage_amount":40,"metadata":{"clip":"x"}}`)
	if got := body(t, w); w.Code != 200 || got["success"] != true || got["credits_charged"] != 40.0 || got["remaining_credits"] != 49.0 ||
		got["version"] != 4.0 || got["transaction_id"] == nil {
		t.Fatalf("deduct: %d %s", w.Code, w.Body)
	}
	w = h.do("POST", base+"/credits/deduct", tok, `{"user_id":"alice","feature":"live_dubbing","usage_amount":49}`)
	if got := body(t, w); w.Code != 200 || got["remaining_credits"] != 0.0 {
		t.Fatalf("deduct to zero: %d %s", w.Code, w.Body)
	}
	w = h.do("POST", base+"/credits/deduct", tok, `{"user_id":"alice","feature":"ai_search","usage_amount":1}`)
	if got := body(t, w); w.Code != 402 || got["error"] != "insufficient_credits" || got["remaining_credits"] != 0.0 || got["credits_required"] != 5.0 {
		t.Fatalf("deduct on empty: %d %s", w.Code, w.Body)
	}

	w = h.do("GET", base+"/credits/transactions", tok, "")
	var txs struct {
		Transactions []map[string]any `json:"transactions"`
	}
	decode(t, w, &txs)
	if w.Code != 200 || len(txs.Transactions) != 5 {
		t.Fatalf("transactions: %d %s", w.Code, w.Body)
	}
	first := txs.Transactions[0]
	if first["feature"] != "ai_search" || first["amount"] != 5.0 || first["balance_after"] != 95.0 || first["version"] != 1.0 ||
		first["idempotency_key"] != nil || first["created_at"] == nil || txs.Transactions[4]["balance_after"] != 0.0 {
		t.Fatalf("transactions: %s", w.Body)
	}
	w = h.do("GET", fmt.Sprintf("%s/credits/transactions?after=%v&limit=2", base, first["id"]), tok, "")
	decode(t, w, &txs)
	if w.Code != 200 || len(txs.Transactions) != 2 || txs.Transactions[0]["balance_after"] != 92.0 {
		t.Fatalf("transactions page: %d %s", w.Code, w.Body)
	}

	w = h.do("GET", base+"/credits/notifications", tok, "")
	var ns struct {
		Notifications []map[string]any `json:"notifications"`
	}
	decode(t, w, &ns)
	if w.Code != 200 || len(ns.Notifications) != 2 || ns.Notifications[0]["kind"] != "low_balance" || ns.Notifications[0]["remaining_credits"] != 49.0 ||
		ns.Notifications[1]["kind"] != "depleted" || ns.Notifications[1]["remaining_credits"] != 0.0 || ns.Notifications[0]["created_at"] == nil {
		t.Fatalf("notifications: %d %s", w.Code, w.Body)
	}
	w = h.do("GET", base+"/credits/balance", tok, "")
	if got := body(t, w); got["low_balance_notified"] != true || got["depleted_notified"] != true || got["used_credits"] != 100.0 {
		t.Fatalf("balance at the end: %s", w.Body)
	}

	// issue-token: a token for an existing account (another load generator's), 404 for none.
	w = h.do("POST", base+"/test/issue-token", "", `{"user_id":"alice"}`)
	if got := body(t, w); w.Code != 200 || got["token"] == nil {
		t.Fatalf("issue-token: %d %s", w.Code, w.Body)
	} else if w2 := h.do("GET", base+"/credits/balance", got["token"].(string), ""); w2.Code != 200 {
		t.Fatalf("balance with an issued token: %d %s", w2.Code, w2.Body)
	}
	if w = h.do("POST", base+"/test/issue-token", "", `{"user_id":"nobody"}`); w.Code != 404 {
		t.Fatalf("issue-token of no account: %d %s", w.Code, w.Body)
	}

	w = h.do("DELETE", base+"/test/delete-user/alice", "", "")
	if got := body(t, w); w.Code != 200 || got["deleted"] != true {
		t.Fatalf("delete-user: %d %s", w.Code, w.Body)
	}
	w = h.do("DELETE", base+"/test/delete-user/alice", "", "")
	if w.Code != 404 || body(t, w)["error"] != "not_found" {
		t.Fatalf("delete-user twice: %d %s", w.Code, w.Body)
	}
	w = h.do("GET", base+"/credits/balance", tok, "")
	if w.Code != 404 {
		t.Fatalf("balance of a deleted user: %d %s", w.Code, w.Body)
	}
}

// TestBadInput: every malformed request gets its 4xx with a JSON error and changes nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok := h.createUser("bob", 100)
	other := h.createUser("carol", 100)
	forged := token.NewHMAC([]byte("someone else's secret")).Issue("bob")
	// One charge with a key, so that reusing it can be tested.
	if w := h.do("POST", base+"/credits/deduct", tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1}`, "Idempotency-Key", "k1"); w.Code != 200 {
		t.Fatalf("setup: %d %s", w.Code, w.Body)
	}
	deduct := base + "/credits/deduct"
	huge := `{"user_id":"bob","feature":"ai_search","usage_amount":1,"metadata":{"pad":"` + strings.Repeat("x", 70<<10) + `"}}`
	tests := []struct {
		name, method, path, tok, body string
		header                        []string
		status                        int
		code                          string
	}{
		{"no token", "POST", deduct, "", `{"user_id":"bob","feature":"ai_search","usage_amount":1}`, nil, 401, "unauthorized"},
		{"forged token", "POST", deduct, forged, `{"user_id":"bob","feature":"ai_search","usage_amount":1}`, nil, 401, "unauthorized"},
		{"mock token without mock auth", "GET", base + "/credits/balance", "mock-token-bob", "", nil, 401, "unauthorized"},
		{"not bearer", "GET", base + "/credits/balance", "", "", []string{"Authorization", "Basic Ym9iOng="}, 401, "unauthorized"},
		{"balance no token", "GET", base + "/credits/balance", "", "", nil, 401, "unauthorized"},
		{"search no token", "POST", base + "/ai-search", "", `{"query":"q"}`, nil, 401, "unauthorized"},
		{"recommendations no token", "GET", base + "/ai-recommendations", "", "", nil, 401, "unauthorized"},
		{"transactions no token", "GET", base + "/credits/transactions", "", "", nil, 401, "unauthorized"},
		{"notifications no token", "GET", base + "/credits/notifications", "", "", nil, 401, "unauthorized"},
		{"another user's id", "POST", deduct, other, `{"user_id":"bob","feature":"ai_search","usage_amount":1}`, nil, 403, "forbidden"},
		{"empty body", "POST", deduct, tok, ``, []string{"Content-Type", "application/json"}, 400, "invalid_request"},
		{"bad json", "POST", deduct, tok, `{"user_id":"bob",`, nil, 400, "invalid_request"},
		{"not an object", "POST", deduct, tok, `[1,2]`, nil, 400, "invalid_request"},
		{"null body", "POST", deduct, tok, `null`, nil, 400, "invalid_request"},
		{"trailing data", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1} {}`, nil, 400, "invalid_request"},
		{"missing user_id", "POST", deduct, tok, `{"feature":"ai_search","usage_amount":1}`, nil, 400, "invalid_request"},
		{"missing feature", "POST", deduct, tok, `{"user_id":"bob","usage_amount":1}`, nil, 400, "invalid_request"},
		{"missing amount", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search"}`, nil, 400, "invalid_request"},
		{"user_id number", "POST", deduct, tok, `{"user_id":7,"feature":"ai_search","usage_amount":1}`, nil, 400, "invalid_request"},
		{"amount string", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":"1"}`, nil, 400, "invalid_request"},
		{"amount null", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":null}`, nil, 400, "invalid_request"},
		{"amount zero", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":0}`, nil, 400, "invalid_amount"},
		{"amount negative", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":-5}`, nil, 400, "invalid_amount"},
		{"amount fraction", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1.5}`, nil, 400, "invalid_amount"},
		{"amount exponent", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1e3}`, nil, 400, "invalid_amount"},
		{"amount overflows int64", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":99999999999999999999}`, nil, 400, "invalid_amount"},
		{"cost overflows", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":9007199254740991}`, nil, 400, "invalid_amount"},
		{"unknown feature", "POST", deduct, tok, `{"user_id":"bob","feature":"teleport","usage_amount":1}`, nil, 400, "unknown_feature"},
		{"metadata not object", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1,"metadata":"x"}`, nil, 400, "invalid_request"},
		{"body over 64 KiB", "POST", deduct, tok, huge, nil, 413, "body_too_large"},
		{"key reused with another body", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":2}`, []string{"Idempotency-Key", "k1"}, 422, "idempotency_conflict"},
		{"key too long", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1}`, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "invalid_request"},
		{"more than the balance", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":20}`, nil, 402, "insufficient_credits"},
		{"search missing query", "POST", base + "/ai-search", tok, `{"limit":3}`, nil, 400, "invalid_request"},
		{"search empty query", "POST", base + "/ai-search", tok, `{"query":""}`, nil, 400, "invalid_request"},
		{"search limit string", "POST", base + "/ai-search", tok, `{"query":"q","limit":"3"}`, nil, 400, "invalid_request"},
		{"search limit zero", "POST", base + "/ai-search", tok, `{"query":"q","limit":0}`, nil, 400, "invalid_request"},
		{"search limit too big", "POST", base + "/ai-search", tok, `{"query":"q","limit":51}`, nil, 400, "invalid_request"},
		{"search limit fraction", "POST", base + "/ai-search", tok, `{"query":"q","limit":2.5}`, nil, 400, "invalid_request"},
		{"recommendations limit word", "GET", base + "/ai-recommendations?limit=ten", tok, "", nil, 400, "invalid_request"},
		{"recommendations limit zero", "GET", base + "/ai-recommendations?limit=0", tok, "", nil, 400, "invalid_request"},
		{"transactions after negative", "GET", base + "/credits/transactions?after=-1", tok, "", nil, 400, "invalid_request"},
		{"transactions limit too big", "GET", base + "/credits/transactions?limit=1001", tok, "", nil, 400, "invalid_request"},
		{"create existing user", "POST", base + "/test/create-user", "", `{"user_id":"bob","initial_credits":5}`, nil, 409, "user_exists"},
		{"create bad user id", "POST", base + "/test/create-user", "", `{"user_id":"a b","initial_credits":5}`, nil, 400, "invalid_request"},
		{"create empty user id", "POST", base + "/test/create-user", "", `{"user_id":"","initial_credits":5}`, nil, 400, "invalid_request"},
		{"create negative credits", "POST", base + "/test/create-user", "", `{"user_id":"dan","initial_credits":-1}`, nil, 400, "invalid_amount"},
		{"create huge credits", "POST", base + "/test/create-user", "", `{"user_id":"dan","initial_credits":9007199254740992}`, nil, 400, "invalid_amount"},
		{"create missing credits", "POST", base + "/test/create-user", "", `{"user_id":"dan"}`, nil, 400, "invalid_request"},
		{"no Content-Type", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1}`, []string{"-Content-Type", ""}, 415, "unsupported_media_type"},
		{"text/plain", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"form", "POST", base + "/ai-search", tok, `{"query":"q"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"json with latin-1", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1}`, []string{"Content-Type", "application/json; charset=iso-8859-1"}, 415, "unsupported_media_type"},
		{"json with other parameter", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1}`, []string{"Content-Type", "application/json; profile=x"}, 415, "unsupported_media_type"},
		{"malformed Content-Type", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1}`, []string{"Content-Type", "application/json;;"}, 415, "unsupported_media_type"},
		{"two Content-Types", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1}`, []string{"+Content-Type", "application/json"}, 415, "unsupported_media_type"},
		{"create-user as text", "POST", base + "/test/create-user", "", `{"user_id":"dan","initial_credits":5}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"metadata not UTF-8", "POST", deduct, tok, "{\"user_id\":\"bob\",\"feature\":\"ai_search\",\"usage_amount\":1,\"metadata\":{\"note\":\"caf\xe9\"}}", nil, 400, "invalid_encoding"},
		{"metadata key not UTF-8", "POST", deduct, tok, "{\"user_id\":\"bob\",\"feature\":\"ai_search\",\"usage_amount\":1,\"metadata\":{\"\xff\":1}}", nil, 400, "invalid_encoding"},
		{"metadata lone surrogate", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1,"metadata":{"note":"\ud800x"}}`, nil, 400, "invalid_encoding"},
		{"metadata lone low surrogate", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1,"metadata":{"note":"\udc00"}}`, nil, 400, "invalid_encoding"},
		{"query not UTF-8", "POST", base + "/ai-search", tok, "{\"query\":\"\xc3\"}", nil, 400, "invalid_encoding"},
		{"create-user id not UTF-8", "POST", base + "/test/create-user", "", "{\"user_id\":\"d\xe4n\",\"initial_credits\":5}", nil, 400, "invalid_encoding"},
		{"empty Idempotency-Key", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1}`, []string{"Idempotency-Key", ""}, 400, "invalid_request"},
		{"blank Idempotency-Key", "POST", base + "/ai-search", tok, `{"query":"q"}`, []string{"Idempotency-Key", "   "}, 400, "invalid_request"},
		{"two Idempotency-Keys", "POST", deduct, tok, `{"user_id":"bob","feature":"ai_search","usage_amount":1}`, []string{"Idempotency-Key", "k2", "+Idempotency-Key", "k3"}, 400, "invalid_request"},
		{"two Idempotency-Keys, recommendations", "GET", base + "/ai-recommendations", tok, "", []string{"Idempotency-Key", "k2", "+Idempotency-Key", "k2"}, 400, "invalid_request"},
		{"empty Idempotency-Key, recommendations", "GET", base + "/ai-recommendations", tok, "", []string{"Idempotency-Key", ""}, 400, "invalid_request"},
		{"create user ..", "POST", base + "/test/create-user", "", `{"user_id":"..","initial_credits":5}`, nil, 400, "invalid_request"},
		{"create user .", "POST", base + "/test/create-user", "", `{"user_id":".","initial_credits":5}`, nil, 400, "invalid_request"},
		{"create user with /", "POST", base + "/test/create-user", "", `{"user_id":"a/b","initial_credits":5}`, nil, 400, "invalid_request"},
		{"create user with %", "POST", base + "/test/create-user", "", `{"user_id":"a%2e","initial_credits":5}`, nil, 400, "invalid_request"},
		{"delete path ..", "DELETE", base + "/test/delete-user/..", "", "", nil, 400, "invalid_request"},
		{"delete path %2e%2e", "DELETE", base + "/test/delete-user/%2e%2e", "", "", nil, 400, "invalid_request"},
		{"empty path segment", "GET", base + "//credits/balance", tok, "", nil, 400, "invalid_request"},
		{"delete unknown user", "DELETE", base + "/test/delete-user/nobody", "", "", nil, 404, "not_found"},
		{"wrong method", "GET", deduct, tok, "", nil, 405, "method_not_allowed"},
		{"unknown path", "GET", base + "/credits/nothing", tok, "", nil, 404, "not_found"},
	}
	before := map[string]storetest.State{"bob": storetest.Snapshot(t, h.db, "bob"), "carol": storetest.Snapshot(t, h.db, "carol")}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(tt.method, tt.path, tt.tok, tt.body, tt.header...)
			got := body(t, w)
			if w.Code != tt.status || got["error"] != tt.code || got["message"] == "" || got["message"] == nil {
				t.Fatalf("%d %s; want %d with error %q and a message", w.Code, w.Body, tt.status, tt.code)
			}
			for user, b := range before {
				if after := storetest.Snapshot(t, h.db, user); !reflect.DeepEqual(after, b) {
					t.Fatalf("%s changed:\nbefore %+v\nafter  %+v", user, b, after)
				}
			}
			if _, err := h.db.Account(context.Background(), "dan"); creditd.ErrorCode(err) != creditd.ENOTFOUND {
				t.Fatalf("account dan exists after a refused create: %v", err)
			}
		})
	}
	if w := h.do("GET", base+"/credits/balance", "", ""); w.Header().Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	if w := h.do("POST", deduct, tok, ""); w.Header().Get("Allow") != "" {
		t.Error("Allow header on a non-405 answer")
	}
	if w := h.do("GET", deduct, tok, ""); w.Header().Get("Allow") != "POST" {
		t.Errorf("405 Allow = %q, want POST", w.Header().Get("Allow"))
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok := h.createUser("erin", 100)
	for _, c := range []struct{ path, method, body, again string }{
		{base + "/credits/deduct", "POST", `{"user_id":"erin","feature":"ai_search","usage_amount":2,"metadata":{"a":1,"b":2}}`,
			`{ "metadata": {"b":2, "a":1}, "usage_amount": 2, "feature": "ai_search", "user_id": "erin" }`}, // same request, other spelling
		{base + "/ai-search", "POST", `{"query":"q","limit":2}`, `{"limit":2,"query":"q"}`},
		{base + "/ai-recommendations?limit=4", "GET", "", ""},
	} {
		key := "key-" + c.path
		w1 := h.do(c.method, c.path, tok, c.body, "Idempotency-Key", key)
		w2 := h.do(c.method, c.path, tok, c.again, "Idempotency-Key", key)
		b1, b2 := body(t, w1), body(t, w2)
		if w1.Code != 200 || w2.Code != 200 || !reflect.DeepEqual(b1, b2) || w2.Header().Get(httpapi.ReplayHeader) != "true" || w1.Header().Get(httpapi.ReplayHeader) != "" {
			t.Fatalf("%s: first %d %s, repeat %d %s (replay header %q)", c.path, w1.Code, w1.Body, w2.Code, w2.Body, w2.Header().Get(httpapi.ReplayHeader))
		}
	}
	// Keys are scoped to their endpoint's request: the deduct key on ai-search is a different request.
	w := h.do("POST", base+"/ai-search", tok, `{"query":"q","limit":2}`, "Idempotency-Key", "key-"+base+"/credits/deduct")
	if w.Code != 422 {
		t.Fatalf("a key reused on another endpoint: %d %s", w.Code, w.Body)
	}
	a := storetest.MustAccount(t, h.db, "erin")
	if a.Remaining != 100-2*5-5-3 || a.Version != 3 {
		t.Fatalf("account %+v; want three charges", a)
	}
}

// TestConcurrentRepeats: many clients send one request with one key at once; one charge, one answer.
func TestConcurrentRepeats(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok := h.createUser("fay", 1000)
	srv := httptest.NewServer(h.h)
	defer srv.Close()
	const n = 32
	var wg sync.WaitGroup
	ids := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", srv.URL+base+"/credits/deduct", strings.NewReader(`{"user_id":"fay","feature":"ai_search","usage_amount":1}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Idempotency-Key", "one")
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var b struct {
				TransactionID int64 `json:"transaction_id"`
			}
			json.NewDecoder(resp.Body).Decode(&b)
			ids[i] = fmt.Sprintf("%d/%d", resp.StatusCode, b.TransactionID)
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || !strings.HasPrefix(id, "200/") {
			t.Fatalf("answers differ: %v", ids)
		}
	}
	if a := storetest.MustAccount(t, h.db, "fay"); a.Remaining != 995 || a.Version != 1 {
		t.Fatalf("account %+v; want one charge", a)
	}
}

func TestMockAuth(t *testing.T) {
	t.Parallel()
	var h *harness
	h = newHarness(t, func(hh *harness, c *httpapi.Config) {
		hh.auth = token.Mock{Signed: token.NewHMAC([]byte("test secret 0123456789"))}
		c.Auth = hh.auth
	})
	tok := h.createUser("gus", 10)
	if tok != "mock-token-gus" {
		t.Fatalf("mock create-user token = %q", tok)
	}
	if w := h.do("GET", base+"/credits/balance", "mock-token-gus", ""); w.Code != 200 {
		t.Fatalf("mock token: %d %s", w.Code, w.Body)
	}
	if w := h.do("POST", base+"/credits/deduct", "mock-token-gus", `{"user_id":"hal","feature":"ai_search","usage_amount":1}`); w.Code != 403 {
		t.Fatalf("mock token on another user: %d %s", w.Code, w.Body)
	}
}

func TestTestEndpointsDisabled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *httpapi.Config) { c.TestEndpoints = false }))
	for _, r := range [][2]string{{"POST", base + "/test/create-user"}, {"DELETE", base + "/test/delete-user/x"}} {
		if w := h.do(r[0], r[1], "", `{"user_id":"x","initial_credits":1}`); w.Code != 404 || body(t, w)["error"] != "not_found" {
			t.Fatalf("%s %s with test endpoints off: %d %s", r[0], r[1], w.Code, w.Body)
		}
	}
	if _, err := h.db.Account(context.Background(), "x"); creditd.ErrorCode(err) != creditd.ENOTFOUND {
		t.Fatal("account created with test endpoints off")
	}
}

func TestHealthUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.db.Close()
	w := h.do("GET", "/health", "", "")
	if got := body(t, w); w.Code != 503 || got["status"] != "unavailable" || got["store"] != "sqlite" || got["error"] != "store_unavailable" {
		t.Fatalf("health on a closed store: %d %s", w.Code, w.Body)
	}
	if w := h.do("POST", base+"/test/create-user", "", `{"user_id":"x","initial_credits":1}`); w.Code != 503 {
		t.Fatalf("create-user on a closed store: %d %s", w.Code, w.Body)
	}
}

// panicStore panics on Account, to show a panicking handler still answers JSON.
type panicStore struct{ creditd.Store }

func (panicStore) Account(context.Context, string) (creditd.Account, error) { panic("boom") }

func TestPanicAnswers500(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(hh *harness, _ *httpapi.Config) { hh.svc.Store = panicStore{hh.db} })
	tok := h.auth.Issue("ivy")
	if w := h.do("GET", base+"/credits/balance", tok, ""); w.Code != 500 || body(t, w)["error"] != "internal_error" || strings.Contains(w.Body.String(), "boom") {
		t.Fatalf("panicking handler: %d %s", w.Code, w.Body)
	}
}

func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withFaults("slow=5s", fault.Env{}), withConfig(func(c *httpapi.Config) { c.RequestTimeout = 30 * time.Millisecond }))
	w := h.do("POST", base+"/test/create-user", "", `{"user_id":"jo","initial_credits":1}`)
	if w.Code != 503 || body(t, w)["error"] != "timeout" {
		t.Fatalf("request over its deadline: %d %s", w.Code, w.Body)
	}
	if _, err := h.db.Account(context.Background(), "jo"); creditd.ErrorCode(err) != creditd.ENOTFOUND {
		t.Fatal("a timed-out create-user created the account")
	}
}

// TestAILatency: the AI endpoints wait the simulated model time after charging; replays do not.
func TestAILatency(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var waits []time.Duration
	h := newHarness(t, func(hh *harness, _ *httpapi.Config) {
		hh.svc.AILatency = creditd.Latency{Base: 200 * time.Millisecond, Jitter: 50 * time.Millisecond}
		hh.svc.Rand = func() float64 { return 1 } // the top of the jitter range
		hh.svc.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			waits = append(waits, d)
			return nil
		}
	})
	tok := h.createUser("kim", 100)
	h.do("POST", base+"/ai-search", tok, `{"query":"q"}`, "Idempotency-Key", "s")
	h.do("POST", base+"/ai-search", tok, `{"query":"q"}`, "Idempotency-Key", "s")
	h.do("GET", base+"/ai-recommendations", tok, "")
	h.do("POST", base+"/credits/deduct", tok, `{"user_id":"kim","feature":"ai_search","usage_amount":1}`)
	if want := []time.Duration{250 * time.Millisecond, 250 * time.Millisecond}; !reflect.DeepEqual(waits, want) {
		t.Fatalf("simulated waits %v, want %v (search, recommendations; not the replay, not deduct)", waits, want)
	}
}

// TestFaultsOverHTTP shows the faults as a load tester sees them: answers, not store state.
func TestFaultsOverHTTP(t *testing.T) {
	t.Parallel()
	t.Run("phantom-charge answers 500 and charges", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, withFaults("phantom-charge", fault.Env{}))
		tok := h.createUser("u", 100)
		w := h.do("POST", base+"/credits/deduct", tok, `{"user_id":"u","feature":"ai_search","usage_amount":1}`, "Idempotency-Key", "p")
		if w.Code != 500 || body(t, w)["error"] != "internal_error" {
			t.Fatalf("phantom charge: %d %s", w.Code, w.Body)
		}
		if a := storetest.MustAccount(t, h.db, "u"); a.Remaining != 95 {
			t.Fatalf("after a 500: %+v; the fault should have charged", a)
		}
		w = h.do("POST", base+"/credits/deduct", tok, `{"user_id":"u","feature":"ai_search","usage_amount":1}`, "Idempotency-Key", "p")
		if w.Code != 200 || body(t, w)["remaining_credits"] != 95.0 {
			t.Fatalf("replaying the key reveals the charge: %d %s", w.Code, w.Body)
		}
	})
	t.Run("lost-update repeats remaining_credits", func(t *testing.T) {
		t.Parallel()
		for _, spec := range []string{"", "lost-update"} {
			h := newHarness(t, withFaults(spec, fault.Env{}))
			tok := h.createUser("u", 10000)
			seen := hammerHTTP(t, h.h, tok, "u", 16, 5)
			repeated := len(seen) < 16*5
			if repeated != (spec != "") {
				t.Fatalf("fault %q: %d distinct remaining_credits in %d answers", spec, len(seen), 16*5)
			}
		}
	})
	t.Run("stale-read serves an old balance", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, withFaults("stale-read=1h", fault.Env{}))
		tok := h.createUser("u", 100)
		h.do("GET", base+"/credits/balance", tok, "")
		h.do("POST", base+"/credits/deduct", tok, `{"user_id":"u","feature":"ai_search","usage_amount":1}`)
		if got := body(t, h.do("GET", base+"/credits/balance", tok, "")); got["remaining_credits"] != 100.0 {
			t.Fatalf("stale-read balance after a charge: %v, want the cached 100", got)
		}
	})
}

// hammerHTTP runs workers clients × each deductions of 5 over a real loopback server and returns the
// set of remaining_credits values answered.
func hammerHTTP(t *testing.T, h http.Handler, tok, user string, workers, each int) map[float64]bool {
	srv := httptest.NewServer(h)
	defer srv.Close()
	var mu sync.Mutex
	seen := map[float64]bool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				req, _ := http.NewRequest("POST", srv.URL+base+"/credits/deduct", strings.NewReader(fmt.Sprintf(`{"user_id":%q,"feature":"ai_search","usage_amount":1}`, user)))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var b map[string]any
				err = json.NewDecoder(resp.Body).Decode(&b)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("deduct: %d %v %v", resp.StatusCode, b, err)
					return
				}
				mu.Lock()
				seen[b["remaining_credits"].(float64)] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return seen
}

func TestStatusTable(t *testing.T) {
	t.Parallel()
	codes := map[string]int{
		creditd.EINVALID: 400, creditd.EAMOUNT: 400, creditd.EFEATURE: 400, creditd.EUNAUTHORIZED: 401,
		creditd.EINSUFFICIENT: 402, creditd.EFORBIDDEN: 403, creditd.ENOTFOUND: 404, creditd.EMETHOD: 405,
		creditd.ECONFLICT: 409, creditd.ETOOLARGE: 413, creditd.EIDEMPOTENCY: 422, creditd.EINTERNAL: 500,
		creditd.EUNAVAILABLE: 503, creditd.ETIMEOUT: 503, "anything else": 500,
	}
	for code, want := range codes {
		if got := httpapi.Status(code); got != want {
			t.Errorf("Status(%q) = %d, want %d", code, got, want)
		}
	}
	if creditd.ErrorCode(errors.New("plain")) != creditd.EINTERNAL {
		t.Error("a plain error is not internal")
	}
}

// TestAcceptedSpellings: what the strict checks still accept: application/json with charset=utf-8 in any
// case, UTF-8 text beyond ASCII, characters outside the BMP as a surrogate pair escape.
func TestAcceptedSpellings(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok := h.createUser("gus", 1000)
	deduct := base + "/credits/deduct"
	for i, tc := range []struct{ contentType, metadata string }{
		{"application/json", `{"note":"café ☕"}`},
		{"application/json; charset=utf-8", `{"note":"😀"}`},
		{"Application/JSON;Charset=UTF-8", `{"note":"\ud83d\ude00"}`},
		{"application/json ; charset=\"utf-8\"", `{"note":"\u00e9\\ud800"}`}, // an escaped backslash, not an escape
	} {
		body := fmt.Sprintf(`{"user_id":"gus","feature":"ai_search","usage_amount":1,"metadata":%s}`, tc.metadata)
		w := h.do("POST", deduct, tok, body, "Content-Type", tc.contentType, "Idempotency-Key", fmt.Sprint("k", i))
		if w.Code != 200 {
			t.Errorf("Content-Type %q, metadata %s: %d %s; want 200", tc.contentType, tc.metadata, w.Code, w.Body)
		}
	}
}

// TestUserIDRoundTrip: every id create-user accepts can be addressed through the delete-user path, as
// is or percent-encoded (scripts/lib encodes it with encodeURIComponent); the two ids that cannot, "."
// and "..", are refused at creation (TestBadInput).
func TestUserIDRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := []string{"...", ".a", "a.", "a..b", "-", "_", "@", ":", "+", "a+b@c.d", "x:y", "A-Z_0.9", strings.Repeat(".", 3) + "x",
		strings.Repeat("z", creditd.MaxUserIDLength)}
	for _, escape := range []func(string) string{func(s string) string { return s }, url.PathEscape, func(s string) string {
		var b strings.Builder // every byte percent-encoded, as some clients do
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
		return b.String()
	}} {
		for _, id := range ids {
			tok := h.createUser(id, 10)
			if w := h.do("GET", base+"/credits/balance", tok, ""); w.Code != 200 || body(t, w)["user_id"] != id {
				t.Fatalf("balance of %q: %d %s", id, w.Code, w.Body)
			}
			path := base + "/test/delete-user/" + escape(id)
			if w := h.do("DELETE", path, "", ""); w.Code != 200 || body(t, w)["user_id"] != id {
				t.Fatalf("DELETE %s (user %q): %d %s; want 200 naming the user", path, id, w.Code, w.Body)
			}
			if _, err := h.db.Account(context.Background(), id); creditd.ErrorCode(err) != creditd.ENOTFOUND {
				t.Fatalf("account %q still there after DELETE %s: %v", id, path, err)
			}
		}
	}
}

// TestTokenLifetime: with a token lifetime, an expired token is refused with 401 and a message that
// says it expired.
func TestTokenLifetime(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	signer := token.NewHMAC([]byte("test secret 0123456789"))
	signer.Lifetime, signer.Now = time.Hour, func() time.Time { return now }
	h := newHarness(t, withConfig(func(c *httpapi.Config) { c.Auth = signer }))
	tok := h.createUser("hal", 10)
	if w := h.do("GET", base+"/credits/balance", tok, ""); w.Code != 200 {
		t.Fatalf("fresh token: %d %s", w.Code, w.Body)
	}
	now = now.Add(time.Hour)
	w := h.do("GET", base+"/credits/balance", tok, "")
	if b := body(t, w); w.Code != 401 || b["error"] != "unauthorized" || !strings.Contains(fmt.Sprint(b["message"]), "expired") {
		t.Fatalf("expired token: %d %s; want 401 saying it expired", w.Code, w.Body)
	}
}
