package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tallyhq/tally/creditd"
)

func (s *server) health(w http.ResponseWriter, r *http.Request) {
	store := s.Service.Store.Name()
	if err := s.Service.Health(r.Context()); err != nil {
		s.Logger.Warn("health check failed", "store", store, "error", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		writeJSON(w, map[string]string{"status": "unavailable", "store": store,
			"error": creditd.EUNAVAILABLE, "message": creditd.ErrorMessage(err)})
		return
	}
	s.respond(w, map[string]string{"status": "ok", "store": store})
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request) {
	obj, err := readObject(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	user, err := obj.str("user_id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	credits, _, err := obj.integer("initial_credits", true, creditd.EAMOUNT)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := s.Service.CreateUser(r.Context(), user, credits)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, map[string]any{"user_id": a.UserID, "token": s.Auth.Issue(a.UserID), "remaining_credits": a.Remaining})
}

func (s *server) deleteUser(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user_id")
	if err := s.Service.DeleteUser(r.Context(), user); err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, map[string]any{"user_id": user, "deleted": true})
}

// balanceBody is the balance answer; balance and remaining_credits are the same number.
type balanceBody struct {
	UserID             string `json:"user_id"`
	Balance            int64  `json:"balance"`
	RemainingCredits   int64  `json:"remaining_credits"`
	UsedCredits        int64  `json:"used_credits"`
	GrantedCredits     int64  `json:"granted_credits"`
	Version            int64  `json:"version"`
	LowBalanceNotified bool   `json:"low_balance_notified"`
	DepletedNotified   bool   `json:"depleted_notified"`
}

func (s *server) balance(w http.ResponseWriter, r *http.Request, user string) {
	a, err := s.Service.Balance(r.Context(), user)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, balanceBody{UserID: a.UserID, Balance: a.Remaining, RemainingCredits: a.Remaining, UsedCredits: a.Used,
		GrantedCredits: a.Granted, Version: a.Version, LowBalanceNotified: a.LowBalanceNotified, DepletedNotified: a.DepletedNotified})
}

// chargeBody is the common part of every charging answer.
type chargeBody struct {
	CreditsCharged   int64 `json:"credits_charged"`
	RemainingCredits int64 `json:"remaining_credits"` // the balance right after this charge (balance_after)
	TransactionID    int64 `json:"transaction_id"`
	Version          int64 `json:"version"` // the account's version right after this charge
}

func receipt(w http.ResponseWriter, rc creditd.Receipt) chargeBody {
	if rc.Replayed {
		w.Header().Set(ReplayHeader, "true")
	}
	t := rc.Transaction
	return chargeBody{CreditsCharged: t.Amount, RemainingCredits: t.BalanceAfter, TransactionID: t.ID, Version: t.Version}
}

func (s *server) aiSearch(w http.ResponseWriter, r *http.Request, user string) {
	obj, err := readObject(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	query, err := obj.str("query")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit, present, err := obj.integer("limit", false, creditd.EINVALID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if present && (limit < 1 || limit > creditd.MaxResults) {
		s.fail(w, r, creditd.Errorf(creditd.EINVALID, "limit must be from 1 to %d, got %d", creditd.MaxResults, limit))
		return
	}
	key, err := idempotencyKey(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rc, results, err := s.Service.Search(r.Context(), user, query, int(limit), key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, struct {
		Results []creditd.Result `json:"results"`
		chargeBody
	}{results, receipt(w, rc)})
}

func (s *server) aiRecommendations(w http.ResponseWriter, r *http.Request, user string) {
	limit, err := queryInt(r, "limit", 1, creditd.MaxResults)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	key, err := idempotencyKey(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rc, results, err := s.Service.Recommend(r.Context(), user, int(limit), key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, struct {
		Results []creditd.Result `json:"results"`
		chargeBody
	}{results, receipt(w, rc)})
}

func (s *server) deduct(w http.ResponseWriter, r *http.Request, caller string) {
	obj, err := readObject(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	user, err := obj.str("user_id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	feature, err := obj.str("feature")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	usage, _, err := obj.integer("usage_amount", true, creditd.EAMOUNT)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	meta, err := obj.metadata()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if user != caller {
		s.fail(w, r, creditd.Errorf(creditd.EFORBIDDEN, "user_id %q is not the token's user; a token acts only on its own account", user))
		return
	}
	key, err := idempotencyKey(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rc, err := s.Service.Charge(r.Context(), creditd.Charge{
		UserID:         user,
		Feature:        feature,
		Usage:          usage,
		IdempotencyKey: key,
		Request:        fmt.Sprintf("POST deduct\x00%s\x00%s\x00%d\x00%s", user, feature, usage, meta),
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, struct {
		Success bool `json:"success"`
		chargeBody
	}{true, receipt(w, rc)})
}

type transactionBody struct {
	ID             int64     `json:"id"`
	Feature        string    `json:"feature"`
	Amount         int64     `json:"amount"`
	BalanceAfter   int64     `json:"balance_after"`
	Version        int64     `json:"version"`
	IdempotencyKey *string   `json:"idempotency_key"`
	CreatedAt      time.Time `json:"created_at"`
}

func (s *server) transactions(w http.ResponseWriter, r *http.Request, user string) {
	after, err := queryInt(r, "after", 0, 1<<62)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", 1, creditd.MaxPage)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	txs, err := s.Service.Transactions(r.Context(), user, after, int(limit))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]transactionBody, len(txs))
	for i, t := range txs {
		out[i] = transactionBody{ID: t.ID, Feature: t.Feature, Amount: t.Amount, BalanceAfter: t.BalanceAfter,
			Version: t.Version, CreatedAt: t.CreatedAt}
		if t.IdempotencyKey != "" {
			key := t.IdempotencyKey
			out[i].IdempotencyKey = &key
		}
	}
	s.respond(w, map[string]any{"transactions": out})
}

type noticeBody struct {
	ID               int64     `json:"id"`
	Kind             string    `json:"kind"`
	RemainingCredits int64     `json:"remaining_credits"`
	TransactionID    int64     `json:"transaction_id"`
	CreatedAt        time.Time `json:"created_at"`
}

func (s *server) notifications(w http.ResponseWriter, r *http.Request, user string) {
	ns, err := s.Service.Notices(r.Context(), user)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]noticeBody, len(ns))
	for i, n := range ns {
		out[i] = noticeBody{ID: n.ID, Kind: string(n.Kind), RemainingCredits: n.Remaining, TransactionID: n.TransactionID, CreatedAt: n.CreatedAt}
	}
	s.respond(w, map[string]any{"notifications": out})
}

// queryInt reads an optional whole-number query parameter in [lo, hi]; absent means 0.
func queryInt(r *http.Request, name string, lo, hi int64) (int64, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return 0, nil
	}
	v := q.Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi || !wholeNumber.MatchString(v) {
		return 0, creditd.Errorf(creditd.EINVALID, "query parameter %s must be a whole number from %d to %d, got %.40q", name, lo, hi, v)
	}
	return n, nil
}
