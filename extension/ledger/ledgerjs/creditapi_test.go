package ledgerjs

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// creditAPI simulates the Beta 500 credit API (the parts the example
// script uses) in memory, correctly or with one fault:
//   - "lost_update": every 5th successful deduction is confirmed and
//     logged but its write is lost (the balance and version stay);
//   - "double_charge": every 5th successful deduction is debited twice
//     and logged twice under the same idempotency key;
//   - "flaky" (correct, but unreliable): of every 20 deduction requests,
//     one is answered 503 before it is applied and one is applied and then
//     answered 503 (a gateway losing the answer); replays with the same
//     key get the real answer.
type creditAPI struct {
	fault string

	mu     sync.Mutex
	users  map[string]*apiUser
	tokens map[string]*apiUser
	n      int // successful deductions so far
	req    int // deduction requests so far (replays excluded)
	txSeq  int
}

type apiUser struct {
	id             string
	bal, used, ver int64
	low, dep       bool
	txs            []apiTx
	notices        []apiNotice
	idem           map[string]idemAnswer
	lowThreshold   int64
	initial        int64
}

type apiTx struct {
	ID           string `json:"id"`
	Feature      string `json:"feature"`
	Amount       int64  `json:"amount"`
	BalanceAfter int64  `json:"balance_after"`
	Key          string `json:"idempotency_key"`
	CreatedAt    string `json:"created_at"`
}

type apiNotice struct {
	Kind      string `json:"kind"`
	Remaining int64  `json:"remaining_credits"`
	CreatedAt string `json:"created_at"`
}

type idemAnswer struct {
	body   string
	status int
	resp   []byte
}

var rates = map[string]int64{"ai_search": 5, "ai_recommendations": 3}

func newCreditAPI(fault string) *creditAPI {
	return &creditAPI{fault: fault, users: map[string]*apiUser{}, tokens: map[string]*apiUser{}}
}

func writeJSON(w http.ResponseWriter, status int, v any) []byte {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	return b
}

func apiError(w http.ResponseWriter, status int, code string, extra map[string]any) {
	m := map[string]any{"error": code, "message": code}
	for k, v := range extra {
		m[k] = v
	}
	writeJSON(w, status, m)
}

func (a *creditAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const base = "/api/v1/beta"
	path := strings.TrimPrefix(r.URL.Path, base)
	a.mu.Lock()
	defer a.mu.Unlock()
	if path == "/test/create-user" && r.Method == http.MethodPost {
		var req struct {
			UserID         string `json:"user_id"`
			InitialCredits int64  `json:"initial_credits"`
		}
		if json.NewDecoder(r.Body).Decode(&req) != nil || req.UserID == "" || req.InitialCredits < 0 {
			apiError(w, 400, "bad_request", nil)
			return
		}
		if a.users[req.UserID] != nil {
			apiError(w, 409, "exists", nil)
			return
		}
		u := &apiUser{id: req.UserID, bal: req.InitialCredits, initial: req.InitialCredits, idem: map[string]idemAnswer{}, lowThreshold: 50}
		token := "tok-" + req.UserID
		a.users[u.id], a.tokens[token] = u, u
		writeJSON(w, 200, map[string]any{"user_id": u.id, "token": token, "remaining_credits": u.bal})
		return
	}
	u := a.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	if u == nil {
		apiError(w, 401, "unauthorized", nil)
		return
	}
	switch {
	case path == "/credits/balance" && r.Method == http.MethodGet:
		writeJSON(w, 200, map[string]any{"user_id": u.id, "balance": u.bal, "remaining_credits": u.bal, "used_credits": u.used,
			"version": u.ver, "low_balance_notified": u.low, "depleted_notified": u.dep})
	case path == "/credits/notifications" && r.Method == http.MethodGet:
		writeJSON(w, 200, map[string]any{"notifications": append([]apiNotice{}, u.notices...)})
	case path == "/credits/transactions" && r.Method == http.MethodGet:
		limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil || limit <= 0 {
			limit = 50
		}
		start := 0
		if after := r.URL.Query().Get("after"); after != "" {
			for i, tx := range u.txs {
				if tx.ID == after {
					start = i + 1
				}
			}
		}
		page := u.txs[start:min(len(u.txs), start+limit)]
		writeJSON(w, 200, map[string]any{"transactions": append([]apiTx{}, page...)})
	case path == "/credits/deduct" && r.Method == http.MethodPost:
		a.deduct(w, r, u)
	default:
		apiError(w, 404, "not_found", nil)
	}
}

func (a *creditAPI) deduct(w http.ResponseWriter, r *http.Request, u *apiUser) {
	raw, _ := io.ReadAll(r.Body)
	key := r.Header.Get("Idempotency-Key")
	if prev, ok := u.idem[key]; ok && key != "" {
		if prev.body != string(raw) {
			apiError(w, 422, "idempotency_key_reused", nil)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(prev.status)
		w.Write(prev.resp)
		return
	}
	var req struct {
		UserID      string `json:"user_id"`
		Feature     string `json:"feature"`
		UsageAmount int64  `json:"usage_amount"`
	}
	if json.Unmarshal(raw, &req) != nil || req.UsageAmount <= 0 {
		apiError(w, 400, "bad_request", nil)
		return
	}
	if req.UserID != u.id {
		apiError(w, 403, "forbidden", nil)
		return
	}
	rate, ok := rates[req.Feature]
	if !ok {
		apiError(w, 400, "unknown_feature", nil)
		return
	}
	cost := rate * req.UsageAmount
	a.req++
	if a.fault == "flaky" && a.req%20 == 7 {
		apiError(w, 503, "unavailable", nil) // dropped before it was applied
		return
	}
	lostAnswer := a.fault == "flaky" && a.req%20 == 13
	if lostAnswer {
		w = &discardWriter{header: http.Header{}, real: w} // applied; the client gets a 503
	}
	remember := func(status int, resp []byte) {
		if key != "" {
			u.idem[key] = idemAnswer{body: string(raw), status: status, resp: resp}
		}
	}
	if u.bal < cost {
		resp := writeJSON(w, 402, map[string]any{"error": "insufficient_credits", "message": "insufficient credits", "remaining_credits": u.bal})
		remember(402, resp)
		return
	}
	a.n++
	faulty := a.n%5 == 0
	debits := 1
	if faulty && a.fault == "double_charge" && u.bal >= 2*cost {
		debits = 2
	}
	var txID string
	bal, ver := u.bal, u.ver
	for d := 0; d < debits; d++ {
		bal -= cost
		ver++
		a.txSeq++
		txID = fmt.Sprintf("tx%d", a.txSeq)
		u.txs = append(u.txs, apiTx{ID: txID, Feature: req.Feature, Amount: cost, BalanceAfter: bal, Key: key, CreatedAt: "2025-01-01T00:00:00Z"})
	}
	if !(faulty && a.fault == "lost_update") {
		u.used += u.bal - bal
		u.bal, u.ver = bal, ver
		if u.bal == 0 && !u.dep {
			u.dep = true
			u.notices = append(u.notices, apiNotice{Kind: "depleted", Remaining: 0, CreatedAt: "2025-01-01T00:00:00Z"})
		} else if u.bal > 0 && u.bal <= u.lowThreshold && !u.low {
			u.low = true
			u.notices = append(u.notices, apiNotice{Kind: "low_balance", Remaining: u.bal, CreatedAt: "2025-01-01T00:00:00Z"})
		}
	}
	resp := writeJSON(w, 200, map[string]any{"success": true, "credits_charged": cost, "remaining_credits": bal,
		"transaction_id": txID, "version": ver})
	remember(200, resp)
}

// discardWriter swallows an answer and sends a 503 instead.
type discardWriter struct {
	header http.Header
	real   http.ResponseWriter
	sent   bool
}

func (d *discardWriter) Header() http.Header { return d.header }

func (d *discardWriter) WriteHeader(int) {
	if !d.sent {
		d.sent = true
		apiError(d.real, 503, "unavailable", nil)
	}
}

func (d *discardWriter) Write(b []byte) (int, error) {
	d.WriteHeader(0)
	return len(b), nil
}
