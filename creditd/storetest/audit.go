// Package storetest is the conformance suite of creditd.Store: Run checks every rule of the credit API
// that a store carries (atomic deduction, no overdraft, idempotency, exactly-once notices, records),
// alone and under concurrency; RunFaults shows that each creditd/fault mode breaks the invariant it
// targets while the correct path keeps them all. creditd/sqlite and creditd/postgres run both.
package storetest

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/tallyhq/tally/creditd"
)

// The invariants Audit checks, named like the ledger's anomaly kinds where one exists.
const (
	VOverdraft            = "overdraft"              // remaining < 0
	VConservation         = "conservation"           // remaining + used != granted
	VLeaked               = "leaked"                 // fewer credits left the account than confirmed charges say
	VOvercharged          = "overcharged"            // more credits left the account than confirmed charges say
	VVersion              = "version"                // version != number of confirmed (non-replayed) charges
	VMissingRecord        = "missing_debit"          // a confirmed charge has no debit record
	VExtraRecord          = "server_only_debit"      // a debit record no confirmed charge or request explains
	VChargeWithoutService = "charge_without_service" // a debit record for a request answered with an error
	VLostUpdate           = "lost_update"            // balance_after repeats, or the record chain does not step down by the amounts
	VRecordSum            = "record_sum"             // the records' amounts do not add up to used credits
	VDuplicateNotice      = "notification_duplicate" // more than one notice of one kind
)

// Outcome is one deduction as its caller saw it.
type Outcome struct {
	Deduction creditd.Deduction
	Receipt   creditd.Receipt
	Err       error
}

// Audit reads an account, its records and notices after a workload and returns the invariants that the
// outcomes and the stored state break, sorted (nil when all hold). granted is the account's grant.
func Audit(ctx context.Context, s creditd.Store, userID string, granted int64, outcomes []Outcome) ([]string, error) {
	a, err := s.Account(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	records, err := AllTransactions(ctx, s, userID)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	notices, err := s.Notices(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	v := violations{}
	if a.Remaining < 0 {
		v[VOverdraft] = true
	}
	if a.Remaining+a.Used != granted {
		v[VConservation] = true
	}
	seen := v.callerView(outcomes)
	v.checkAccount(a, granted, seen)
	v.checkRecords(records, granted, a.Used, seen)
	v.checkNotices(notices)
	return v.sorted(), nil
}

// violations is the set of invariants an audit found broken.
type violations map[string]bool

// sorted returns the broken invariants in order; nil when none.
func (v violations) sorted() []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// seenByCallers is what the deductions' callers were told, which the
// stored state must explain.
type seenByCallers struct {
	confirmed  int64           // credits of the confirmed charges (replays not counted again)
	charges    int64           // confirmed charges, replays not counted
	okIDs      map[int64]bool  // transaction of every confirmed charge, replays included
	failedKeys map[string]bool // idempotency keys of the requests answered with an error
}

// callerView sums the outcomes; two confirmed charges that report the same balance after them
// are a lost update.
func (v violations) callerView(outcomes []Outcome) seenByCallers {
	c := seenByCallers{okIDs: map[int64]bool{}, failedKeys: map[string]bool{}}
	seenAfter := map[int64]bool{}
	for _, o := range outcomes {
		if o.Err != nil {
			if o.Deduction.IdempotencyKey != "" {
				c.failedKeys[o.Deduction.IdempotencyKey] = true
			}
			continue
		}
		c.okIDs[o.Receipt.Transaction.ID] = true
		if o.Receipt.Replayed {
			continue
		}
		c.confirmed += o.Receipt.Transaction.Amount
		c.charges++
		if seenAfter[o.Receipt.Transaction.BalanceAfter] {
			v[VLostUpdate] = true
		}
		seenAfter[o.Receipt.Transaction.BalanceAfter] = true
	}
	return c
}

// checkAccount compares the account's balance and version with the confirmed charges.
func (v violations) checkAccount(a creditd.Account, granted int64, c seenByCallers) {
	switch spent := granted - a.Remaining; {
	case spent < c.confirmed:
		v[VLeaked] = true
	case spent > c.confirmed:
		v[VOvercharged] = true
	}
	if a.Version != c.charges {
		v[VVersion] = true
	}
}

// checkRecords walks the debit records in order: each steps the balance down by its amount from
// the grant, each is explained by a confirmed charge, they add up to the used credits, and every
// confirmed charge has one.
func (v violations) checkRecords(records []creditd.Transaction, granted, used int64, c seenByCallers) {
	byID := map[int64]bool{}
	var sum int64
	prev := granted
	for _, t := range records {
		byID[t.ID] = true
		sum += t.Amount
		if t.BalanceAfter != prev-t.Amount {
			v[VLostUpdate] = true
		}
		prev = t.BalanceAfter
		if !c.okIDs[t.ID] {
			if c.failedKeys[t.IdempotencyKey] {
				v[VChargeWithoutService] = true
			} else {
				v[VExtraRecord] = true
			}
		}
	}
	if sum != used {
		v[VRecordSum] = true
	}
	for id := range c.okIDs {
		if !byID[id] {
			v[VMissingRecord] = true
		}
	}
}

// checkNotices finds a notice kind sent more than once.
func (v violations) checkNotices(notices []creditd.Notice) {
	kinds := map[creditd.NoticeKind]int{}
	for _, n := range notices {
		if kinds[n.Kind]++; kinds[n.Kind] > 1 {
			v[VDuplicateNotice] = true
		}
	}
}

// AllTransactions pages through every debit record of an account.
func AllTransactions(ctx context.Context, s creditd.Store, userID string) ([]creditd.Transaction, error) {
	var out []creditd.Transaction
	after := int64(0)
	for {
		page, err := s.Transactions(ctx, userID, after, creditd.MaxPage)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < creditd.MaxPage {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// Hammer runs workers goroutines that each make each deductions on one account, all started together,
// and returns every outcome. Deduction i of worker w costs cost(w, i) and carries a unique idempotency
// key (prefix-w-i) whose fingerprint is the key itself.
func Hammer(ctx context.Context, s creditd.Store, userID, prefix string, workers, each int, cost func(w, i int) int64) []Outcome {
	out := make([]Outcome, workers*each)
	var start, wg sync.WaitGroup
	start.Add(1)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			for i := range each {
				key := fmt.Sprintf("%s-%d-%d", prefix, w, i)
				d := creditd.Deduction{UserID: userID, Feature: "ai_search", Cost: cost(w, i), IdempotencyKey: key,
					Fingerprint: key, LowBalance: creditd.DefaultLowBalance}
				rc, err := s.Deduct(ctx, d)
				out[w*each+i] = Outcome{Deduction: d, Receipt: rc, Err: err}
			}
		}()
	}
	start.Done()
	wg.Wait()
	return out
}
