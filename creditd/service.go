package creditd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Limits of the API's inputs.
const (
	MaxUserIDLength   = 128  // user ids are 1..128 characters of A-Z a-z 0-9 . _ - @ : +
	MaxKeyLength      = 255  // idempotency keys are 1..255 visible ASCII characters
	MaxQueryLength    = 2000 // an ai-search query is 1..2000 bytes
	MaxResults        = 50   // limit of ai-search and ai-recommendations is 1..50 (default 10)
	DefaultResults    = 10
	MaxPage           = 1000 // limit of the transactions list is 1..1000 (default 100)
	DefaultPage       = 100
	DefaultLowBalance = 50
)

// Service applies the credit rules on top of a Store: validation, prices, thresholds, idempotency
// fingerprints and the simulated model time of the AI features. Fields are set before first use; the
// Service is then safe for concurrent use.
type Service struct {
	Store      Store
	Rates      Rates
	LowBalance int64   // threshold of the low_balance notice
	AILatency  Latency // simulated model time of ai-search and ai-recommendations
	// Rand returns a uniform number in [0, 1); nil means math/rand/v2.
	Rand func() float64
	// Sleep waits d or until ctx ends; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Charge is a request to charge usage units of a feature to an account.
type Charge struct {
	UserID         string
	Feature        string
	Usage          int64
	IdempotencyKey string // optional
	// Request is a canonical description of the HTTP request (method, path, normalized body); its
	// digest is the fingerprint a repeated idempotency key must match.
	Request string
}

// Result is one item of a simulated AI answer.
type Result struct {
	ID    string  `json:"id"`
	Title string  `json:"title"`
	Score float64 `json:"score"`
}

// Health reports whether the store is reachable (EUNAVAILABLE if not).
func (s *Service) Health(ctx context.Context) error {
	if err := s.Store.Ping(ctx); err != nil {
		return &Error{Code: EUNAVAILABLE, Message: fmt.Sprintf("%s store unreachable: %v", s.Store.Name(), err)}
	}
	return nil
}

// CreateUser opens an account with credits granted (0..MaxCredits).
func (s *Service) CreateUser(ctx context.Context, userID string, credits int64) (Account, error) {
	if err := ValidateUserID(userID); err != nil {
		return Account{}, err
	}
	if credits < 0 || credits > MaxCredits {
		return Account{}, Errorf(EAMOUNT, "initial_credits must be a whole number from 0 to %d, got %d", MaxCredits, credits)
	}
	return s.Store.CreateAccount(ctx, userID, credits)
}

// DeleteUser removes an account and everything recorded for it.
func (s *Service) DeleteUser(ctx context.Context, userID string) error {
	if err := ValidateUserID(userID); err != nil {
		return err
	}
	return s.Store.DeleteAccount(ctx, userID)
}

// Balance reads the caller's account.
func (s *Service) Balance(ctx context.Context, userID string) (Account, error) {
	return s.Store.Account(ctx, userID)
}

// Transactions lists the caller's debit records after the given id, oldest first; limit 0 means
// DefaultPage.
func (s *Service) Transactions(ctx context.Context, userID string, after int64, limit int) ([]Transaction, error) {
	if limit == 0 {
		limit = DefaultPage
	}
	if limit < 1 || limit > MaxPage {
		return nil, Errorf(EINVALID, "limit must be from 1 to %d, got %d", MaxPage, limit)
	}
	if after < 0 {
		return nil, Errorf(EINVALID, "after must be a transaction id (0 or more), got %d", after)
	}
	return s.Store.Transactions(ctx, userID, after, limit)
}

// Notices lists the caller's threshold notices, oldest first.
func (s *Service) Notices(ctx context.Context, userID string) ([]Notice, error) {
	return s.Store.Notices(ctx, userID)
}

// Charge prices c and deducts it in one store transaction.
func (s *Service) Charge(ctx context.Context, c Charge) (Receipt, error) {
	cost, err := s.Rates.Cost(c.Feature, c.Usage)
	if err != nil {
		return Receipt{}, err
	}
	if c.IdempotencyKey != "" {
		if err := ValidateKey(c.IdempotencyKey); err != nil {
			return Receipt{}, err
		}
	}
	return s.Store.Deduct(ctx, Deduction{
		UserID:         c.UserID,
		Feature:        c.Feature,
		Cost:           cost,
		IdempotencyKey: c.IdempotencyKey,
		Fingerprint:    Fingerprint(c.Request),
		LowBalance:     s.LowBalance,
	})
}

// Search charges one ai_search and answers a simulated search for query. The charge comes first (so an
// account without credits is refused at once), then the simulated model time; a replayed charge skips
// the model time. limit 0 means DefaultResults.
func (s *Service) Search(ctx context.Context, userID, query string, limit int, key string) (Receipt, []Result, error) {
	if query == "" || len(query) > MaxQueryLength {
		return Receipt{}, nil, Errorf(EINVALID, "query must be 1 to %d bytes of text, got %d bytes", MaxQueryLength, len(query))
	}
	limit, err := resultLimit(limit)
	if err != nil {
		return Receipt{}, nil, err
	}
	c := Charge{UserID: userID, Feature: "ai_search", Usage: 1, IdempotencyKey: key,
		Request: fmt.Sprintf("POST ai-search\x00%d\x00%s", limit, query)}
	return s.think(ctx, c, func() []Result { return results("search", query, limit) })
}

// Recommend charges one ai_recommendations and answers simulated recommendations for the caller.
func (s *Service) Recommend(ctx context.Context, userID string, limit int, key string) (Receipt, []Result, error) {
	limit, err := resultLimit(limit)
	if err != nil {
		return Receipt{}, nil, err
	}
	c := Charge{UserID: userID, Feature: "ai_recommendations", Usage: 1, IdempotencyKey: key,
		Request: fmt.Sprintf("GET ai-recommendations\x00%d", limit)}
	return s.think(ctx, c, func() []Result { return results("rec", userID, limit) })
}

func (s *Service) think(ctx context.Context, c Charge, answer func() []Result) (Receipt, []Result, error) {
	rc, err := s.Charge(ctx, c)
	if err != nil {
		return Receipt{}, nil, err
	}
	if !rc.Replayed && (s.AILatency.Base > 0 || s.AILatency.Jitter > 0) {
		// The credits are spent; like a real model call, the answer takes time. A client that gives up
		// now has been charged, which is what the idempotency key's replay is for.
		// A model cut short by the request's deadline still answers: the credits are spent, and an
		// error now would be a charge without service. A cancelled request has nobody to answer.
		if err := s.sleep(ctx, s.AILatency.Draw(s.rand())); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return Receipt{}, nil, fmt.Errorf("simulated model time: %w", err)
		}
	}
	return rc, answer(), nil
}

func (s *Service) rand() float64 {
	if s.Rand != nil {
		return s.Rand()
	}
	return rand.Float64()
}

func (s *Service) sleep(ctx context.Context, d time.Duration) error {
	if s.Sleep != nil {
		return s.Sleep(ctx, d)
	}
	return Sleep(ctx, d)
}

// Sleep waits d or until ctx is done, returning ctx's error in the latter case.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func resultLimit(limit int) (int, error) {
	if limit == 0 {
		return DefaultResults, nil
	}
	if limit < 1 || limit > MaxResults {
		return 0, Errorf(EINVALID, "limit must be from 1 to %d, got %d", MaxResults, limit)
	}
	return limit, nil
}

// results makes a deterministic simulated answer: the same input always gives the same items.
func results(kind, seed string, limit int) []Result {
	h := uint64(14695981039346656037)
	for _, c := range []byte(seed) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	out := make([]Result, limit)
	for i := range out {
		h = h*6364136223846793005 + 1442695040888963407
		out[i] = Result{
			ID:    fmt.Sprintf("%s-%016x", kind, h),
			Title: fmt.Sprintf("%s result %d for %.40q", kind, i+1, seed),
			Score: float64(limit-i) / float64(limit),
		}
	}
	return out
}

// ValidateUserID checks a user id: 1..MaxUserIDLength characters of A-Z a-z 0-9 . _ - @ : +, and not
// "." or "..": every id then survives a round trip through a URL path (test/delete-user/{user_id}) as it
// is, where a dot segment would be resolved away by the server's or the client's URL handling.
func ValidateUserID(id string) error {
	if id == "." || id == ".." {
		return Errorf(EINVALID, "user_id %q is not valid: \".\" and \"..\" are path segments, not names (an account so named could not be addressed in a URL path); pick another id", id)
	}
	ok := len(id) >= 1 && len(id) <= MaxUserIDLength
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-' || c == '@' || c == ':' || c == '+'
	}
	if !ok {
		return Errorf(EINVALID, "user_id %.140q is not valid: use 1 to %d characters of A-Z a-z 0-9 . _ - @ : +", id, MaxUserIDLength)
	}
	return nil
}

// ValidateKey checks an idempotency key: 1..MaxKeyLength visible ASCII characters.
func ValidateKey(key string) error {
	ok := len(key) >= 1 && len(key) <= MaxKeyLength
	for i := 0; ok && i < len(key); i++ {
		ok = key[i] > ' ' && key[i] < 0x7f
	}
	if !ok {
		return Errorf(EINVALID, "Idempotency-Key must be 1 to %d visible ASCII characters", MaxKeyLength)
	}
	return nil
}
