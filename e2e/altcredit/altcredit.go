// Package altcredit is a second credit service for the end-to-end tests, written apart from creditd and
// unlike it in every convention the scenarios' configuration (scripts/lib/config.js) claims to cover:
// other paths, field names, nested (dotted) response fields, 201/204 statuses, 409 for insufficient
// credits, an API-key header, another idempotency header, feature names, prices and low-balance
// threshold, notice kinds, string receipt ids, a transaction log that writes debits as negative amounts
// and pages by an opaque cursor, notices without ids or times, and no version, used-credits or notice
// flags at all. It keeps everything in memory.
//
// Bugs can be switched on one by one (Bugs) so the tests can check that the ledger names each one; the
// one correct behaviour among them, DropAfterCommit, must not make a run fail.
package altcredit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Prices per unit and the low-balance threshold of this service.
const (
	LowThreshold = 100
	maxPage      = 200
)

// Rates are the service's prices per unit, by product.
var Rates = map[string]int64{"search": 4, "recs": 2, "dub": 1}

// Bugs switches faults on. The zero value is a correct service.
type Bugs struct {
	// RefundOnRefusal: a refused charge gives the caller its price back (the balance rises, unlogged).
	RefundOnRefusal bool
	// LostUpdate is the share of charges that read the balance, wait, and write it back minus the price
	// without holding the account (a read-modify-write window).
	LostUpdate float64
	// DuplicateNotice: the low-balance notice is recorded twice.
	DuplicateNotice bool
	// DropAfterCommit is the share of charges whose connection is closed after the charge committed,
	// before any answer (correct bookkeeping; the client sees an unknown outcome).
	DropAfterCommit float64
}

type entry struct {
	Ref        string `json:"ref"`
	Product    string `json:"product"`
	Delta      int64  `json:"delta"`
	Balance    int64  `json:"balance"`
	RequestKey string `json:"request_key,omitempty"`
}

type alert struct {
	Type      string `json:"type"`
	BalanceAt int64  `json:"balance_at"`
}

type receipt struct {
	product string
	cost    int64
	body    []byte
}

type account struct {
	mu       sync.Mutex
	balance  int64
	entries  []entry
	alerts   []alert
	lowSent  bool
	zeroSent bool
	keys     map[string]*receipt
}

// Service is the in-memory credit service; its Handler serves the API.
type Service struct {
	bugs Bugs

	mu       sync.Mutex
	accounts map[string]*account
	tokens   map[string]string // token -> account id
	issued   []string          // every token issued, deleted accounts' too
	seq      int64
}

// New returns an empty service with the given bugs.
func New(bugs Bugs) *Service {
	return &Service{bugs: bugs, accounts: map[string]*account{}, tokens: map[string]string{}}
}

// Tokens returns every token the service has issued (for tests that look for leaks).
func (s *Service) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.issued))
	return append(out, s.issued...)
}

// Handler returns the service's HTTP API.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { reply(w, 200, map[string]any{"ok": true}) })
	mux.HandleFunc("POST /admin/accounts", s.create)
	mux.HandleFunc("DELETE /admin/accounts/{id}", s.remove)
	mux.HandleFunc("GET /v2/wallet", s.authed(s.wallet))
	mux.HandleFunc("POST /v2/search", s.authed(s.search))
	mux.HandleFunc("GET /v2/recommend", s.authed(s.recommend))
	mux.HandleFunc("POST /v2/charges", s.authed(s.charges))
	mux.HandleFunc("GET /v2/wallet/ledger", s.authed(s.ledger))
	mux.HandleFunc("GET /v2/wallet/alerts", s.authed(s.alertsList))
	return mux
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, code string) {
	reply(w, status, map[string]any{"problem": code})
}

func (s *Service) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Account string `json:"account"`
		Credits *int64 `json:"credits"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Account == "" || in.Credits == nil || *in.Credits < 0 {
		problem(w, 400, "bad_request")
		return
	}
	tok := fmt.Sprintf("k%016x%016x", rand.Uint64(), rand.Uint64())
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[in.Account]; ok {
		problem(w, 409, "exists")
		return
	}
	s.accounts[in.Account] = &account{balance: *in.Credits, keys: map[string]*receipt{}}
	s.tokens[tok] = in.Account
	s.issued = append(s.issued, tok)
	reply(w, 201, map[string]any{"access_token": tok, "data": map[string]any{"available": *in.Credits}})
}

func (s *Service) remove(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[id]; !ok {
		problem(w, 404, "not_found")
		return
	}
	delete(s.accounts, id)
	for t, a := range s.tokens {
		if a == id {
			delete(s.tokens, t)
		}
	}
	w.WriteHeader(204)
}

type handler func(w http.ResponseWriter, r *http.Request, id string, a *account)

func (s *Service) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		id, ok := s.tokens[r.Header.Get("X-Api-Key")]
		a := s.accounts[id]
		s.mu.Unlock()
		if !ok || a == nil {
			problem(w, 401, "unauthorized")
			return
		}
		h(w, r, id, a)
	}
}

func (s *Service) wallet(w http.ResponseWriter, _ *http.Request, _ string, a *account) {
	a.mu.Lock()
	b := a.balance
	a.mu.Unlock()
	reply(w, 200, map[string]any{"data": map[string]any{"available": b}})
}

func (s *Service) search(w http.ResponseWriter, r *http.Request, _ string, a *account) {
	var in struct {
		Q     string `json:"q"`
		Count int    `json:"count"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Q == "" || in.Count < 1 {
		problem(w, 400, "bad_request")
		return
	}
	s.charge(w, r, a, "search", 1)
}

func (s *Service) recommend(w http.ResponseWriter, r *http.Request, _ string, a *account) {
	if n, err := strconv.Atoi(r.URL.Query().Get("count")); err != nil || n < 1 {
		problem(w, 400, "bad_request")
		return
	}
	s.charge(w, r, a, "recs", 1)
}

func (s *Service) charges(w http.ResponseWriter, r *http.Request, id string, a *account) {
	var in struct {
		Account string `json:"account"`
		Product string `json:"product"`
		Units   int64  `json:"units"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Units < 1 || in.Units > 1_000_000 {
		problem(w, 400, "bad_request")
		return
	}
	if in.Account != id {
		problem(w, 403, "forbidden")
		return
	}
	if _, ok := Rates[in.Product]; !ok {
		problem(w, 400, "unknown_product")
		return
	}
	s.charge(w, r, a, in.Product, in.Units)
}

// charge takes units of product from a, at most once per X-Request-Key.
func (s *Service) charge(w http.ResponseWriter, r *http.Request, a *account, product string, units int64) {
	cost := Rates[product] * units
	key := r.Header.Get("X-Request-Key")
	a.mu.Lock()
	if rc, ok := a.keys[key]; ok && key != "" {
		a.mu.Unlock()
		if rc.product != product || rc.cost != cost {
			problem(w, 422, "key_reused")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = w.Write(rc.body)
		return
	}
	if a.balance < cost {
		if s.bugs.RefundOnRefusal {
			a.balance += cost // BUG: refunds a charge it never made
		}
		a.mu.Unlock()
		problem(w, 409, "insufficient_funds")
		return
	}
	var after int64
	if s.bugs.LostUpdate > 0 && rand.Float64() < s.bugs.LostUpdate {
		read := a.balance // BUG: read, let go of the account, write back
		a.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		a.mu.Lock()
		after = read - cost
	} else {
		after = a.balance - cost
	}
	a.balance = after
	s.mu.Lock()
	s.seq++
	ref := "rc-" + strconv.FormatInt(s.seq, 36)
	s.mu.Unlock()
	a.entries = append(a.entries, entry{Ref: ref, Product: product, Delta: -cost, Balance: after, RequestKey: key})
	if after > 0 && after <= LowThreshold && !a.lowSent {
		a.lowSent = true
		a.alerts = append(a.alerts, alert{Type: "LOW", BalanceAt: after})
		if s.bugs.DuplicateNotice {
			a.alerts = append(a.alerts, alert{Type: "LOW", BalanceAt: after}) // BUG
		}
	}
	if after == 0 && !a.zeroSent {
		a.zeroSent = true
		a.alerts = append(a.alerts, alert{Type: "EMPTY", BalanceAt: 0})
	}
	body, _ := json.Marshal(map[string]any{"receipt": ref, "cost": cost, "data": map[string]any{"available": after}})
	body = append(body, '\n')
	if key != "" {
		a.keys[key] = &receipt{product: product, cost: cost, body: body}
	}
	a.mu.Unlock()
	if s.bugs.DropAfterCommit > 0 && rand.Float64() < s.bugs.DropAfterCommit {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	_, _ = w.Write(body)
}

// ledger pages the account's log, oldest first: ?cursor=<opaque>&count=N; "next" is the cursor of the
// following page, absent on the last one.
func (s *Service) ledger(w http.ResponseWriter, r *http.Request, _ string, a *account) {
	q := r.URL.Query()
	n := maxPage
	if c := q.Get("count"); c != "" {
		v, err := strconv.Atoi(c)
		if err != nil || v < 1 {
			problem(w, 400, "bad_count")
			return
		}
		n = min(v, maxPage)
	}
	from := 0
	if c := q.Get("cursor"); c != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		v, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "at:"))
		if err != nil || err2 != nil || v < 0 {
			problem(w, 400, "bad_cursor")
			return
		}
		from = v
	}
	a.mu.Lock()
	from = min(from, len(a.entries))
	to := min(from+n, len(a.entries))
	page := append([]entry(nil), a.entries[from:to]...)
	more := to < len(a.entries)
	a.mu.Unlock()
	out := map[string]any{"entries": page}
	if more {
		out["next"] = base64.RawURLEncoding.EncodeToString([]byte("at:" + strconv.Itoa(to)))
	}
	reply(w, 200, out)
}

func (s *Service) alertsList(w http.ResponseWriter, _ *http.Request, _ string, a *account) {
	a.mu.Lock()
	list := append([]alert(nil), a.alerts...)
	a.mu.Unlock()
	reply(w, 200, map[string]any{"alerts": list})
}
