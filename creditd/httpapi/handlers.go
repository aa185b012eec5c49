package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tallyhq/tally/creditd"
)

func (s *server) health(w http.ResponseWriter, r *http.Request) error {
	store := s.Service.Store.Name()
	if err := s.Service.Health(r.Context()); err != nil {
		s.Logger.Warn("health check failed", "store", store, "error", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		writeJSON(w, map[string]string{"status": "unavailable", "store": store,
			"error": creditd.EUNAVAILABLE, "message": creditd.ErrorMessage(err)})
		return nil
	}
	s.respond(w, map[string]string{"status": "ok", "store": store})
	return nil
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request) error {
	body := readBody(r)
	user := body.str("user_id")
	credits, _ := body.integer("initial_credits", true, creditd.EAMOUNT)
	if body.err != nil {
		return body.err
	}
	a, err := s.Service.CreateUser(r.Context(), user, credits)
	if err != nil {
		return err
	}
	s.respond(w, map[string]any{"user_id": a.UserID, "token": s.Auth.Issue(a.UserID), "remaining_credits": a.Remaining})
	return nil
}

// issueToken (test endpoints only) gives a token for an existing account, so that the load generators
// of a distributed run can share accounts one of them created: 404 until the account exists.
func (s *server) issueToken(w http.ResponseWriter, r *http.Request) error {
	body := readBody(r)
	user := body.str("user_id")
	if body.err != nil {
		return body.err
	}
	a, err := s.Service.Balance(r.Context(), user)
	if err != nil {
		return err
	}
	s.respond(w, map[string]any{"user_id": a.UserID, "token": s.Auth.Issue(a.UserID)})
	return nil
}

func (s *server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	user := r.PathValue("user_id")
	if err := s.Service.DeleteUser(r.Context(), user); err != nil {
		return err
	}
	s.respond(w, map[string]any{"user_id": user, "deleted": true})
	return nil
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

func (s *server) balance(w http.ResponseWriter, r *http.Request, user string) error {
	a, err := s.Service.Balance(r.Context(), user)
	if err != nil {
		return err
	}
	s.respond(w, balanceBody{UserID: a.UserID, Balance: a.Remaining, RemainingCredits: a.Remaining, UsedCredits: a.Used,
		GrantedCredits: a.Granted, Version: a.Version, LowBalanceNotified: a.LowBalanceNotified, DepletedNotified: a.DepletedNotified})
	return nil
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

func (s *server) aiSearch(w http.ResponseWriter, r *http.Request, user string) error {
	body := readBody(r)
	query := body.str("query")
	limit, present := body.integer("limit", false, creditd.EINVALID)
	if body.err != nil {
		return body.err
	}
	if present && (limit < 1 || limit > creditd.MaxResults) {
		return creditd.Errorf(creditd.EINVALID, "limit must be from 1 to %d, got %d", creditd.MaxResults, limit)
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	rc, results, err := s.Service.Search(r.Context(), user, query, int(limit), key)
	if err != nil {
		return err
	}
	s.respond(w, struct {
		Results []creditd.Result `json:"results"`
		chargeBody
	}{results, receipt(w, rc)})
	return nil
}

func (s *server) aiRecommendations(w http.ResponseWriter, r *http.Request, user string) error {
	limit, err := queryInt(r, "limit", 1, creditd.MaxResults)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	rc, results, err := s.Service.Recommend(r.Context(), user, int(limit), key)
	if err != nil {
		return err
	}
	s.respond(w, struct {
		Results []creditd.Result `json:"results"`
		chargeBody
	}{results, receipt(w, rc)})
	return nil
}

func (s *server) deduct(w http.ResponseWriter, r *http.Request, caller string) error {
	body := readBody(r)
	user := body.str("user_id")
	feature := body.str("feature")
	usage, _ := body.integer("usage_amount", true, creditd.EAMOUNT)
	meta := body.metadata()
	if body.err != nil {
		return body.err
	}
	if user != caller {
		return creditd.Errorf(creditd.EFORBIDDEN, "user_id %q is not the token's user; a token acts only on its own account", user)
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	rc, err := s.Service.Charge(r.Context(), creditd.Charge{
		UserID:         user,
		Feature:        feature,
		Usage:          usage,
		IdempotencyKey: key,
		Request:        fmt.Sprintf("POST deduct\x00%s\x00%s\x00%d\x00%s", user, feature, usage, meta),
	})
	if err != nil {
		return err
	}
	s.respond(w, struct {
		Success bool `json:"success"`
		chargeBody
	}{true, receipt(w, rc)})
	return nil
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

func (s *server) transactions(w http.ResponseWriter, r *http.Request, user string) error {
	after, err := queryInt(r, "after", 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 1, creditd.MaxPage)
	if err != nil {
		return err
	}
	txs, err := s.Service.Transactions(r.Context(), user, after, int(limit))
	if err != nil {
		return err
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
	return nil
}

type noticeBody struct {
	ID               int64     `json:"id"`
	Kind             string    `json:"kind"`
	RemainingCredits int64     `json:"remaining_credits"`
	TransactionID    int64     `json:"transaction_id"`
	CreatedAt        time.Time `json:"created_at"`
}

func (s *server) notifications(w http.ResponseWriter, r *http.Request, user string) error {
	ns, err := s.Service.Notices(r.Context(), user)
	if err != nil {
		return err
	}
	out := make([]noticeBody, len(ns))
	for i, n := range ns {
		out[i] = noticeBody{ID: n.ID, Kind: string(n.Kind), RemainingCredits: n.Remaining, TransactionID: n.TransactionID, CreatedAt: n.CreatedAt}
	}
	s.respond(w, map[string]any{"notifications": out})
	return nil
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
