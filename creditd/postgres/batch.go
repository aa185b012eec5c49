package postgres

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/tallyhq/tally/creditd"
	"github.com/tallyhq/tally/creditd/internal/batch"
)

// batchTimeout bounds one batch on the server; past it the outcome is unknown and reported as such.
const batchTimeout = time.Minute

// deduction is one queued Deduct call.
type deduction struct {
	ctx  context.Context
	d    creditd.Deduction
	at   time.Time // created_at of its record
	done chan result
}

type result struct {
	rc  creditd.Receipt
	err error
}

func (j *deduction) args() []any {
	d := j.d
	return []any{d.UserID, d.Cost, d.LowBalance, d.Overdraft, nullString(d.IdempotencyKey), d.Feature, d.Fingerprint, j.at}
}

// scan reads deductSQL's row into the new record.
func (j *deduction) scan(row pgx.Row) (creditd.Transaction, []string, error) {
	d := j.d
	t := creditd.Transaction{UserID: d.UserID, Feature: d.Feature, Amount: d.Cost, IdempotencyKey: d.IdempotencyKey,
		Fingerprint: d.Fingerprint, CreatedAt: j.at}
	var notices []string
	err := row.Scan(&t.ID, &t.BalanceAfter, &t.Version, &notices)
	return t, notices, err
}

// batchLoop is one batcher: it runs the first queued deduction with whatever else queued up behind it
// (up to MaxBatch). It exits when jobs is closed and drained.
func (db *DB) batchLoop() {
	defer db.stopped.Done()
	batch.Loop(db.jobs, db.MaxBatch, db.runBatch)
}

// runBatch answers every deduction of the batch. Deductions whose caller gave up while queued are
// skipped (nothing charged); one left runs alone; more run as one pipelined batch.
func (db *DB) runBatch(batch []*deduction) {
	live := batch[:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.done <- result{err: err}
			continue
		}
		live = append(live, j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout) // a started write finishes
	defer cancel()
	if len(live) == 1 {
		rc, err := db.deductOne(ctx, live[0])
		live[0].done <- result{rc, err}
		return
	}
	if len(live) == 0 {
		return
	}
	// One lock order for every batch (rows of one account stay in arrival order), so that two
	// batches never wait for each other's account rows in a cycle.
	sort.SliceStable(live, func(a, b int) bool { return live[a].d.UserID < live[b].d.UserID })
	b := &pgx.Batch{}
	for _, j := range live {
		b.Queue(deductSQL, j.args()...)
	}
	type outcome struct {
		t       creditd.Transaction
		notices []string
		refused bool
	}
	outs := make([]outcome, len(live))
	br := db.pool.SendBatch(ctx, b)
	var err error
	for i, j := range live {
		var serr error
		outs[i].t, outs[i].notices, serr = j.scan(br.QueryRow())
		if errors.Is(serr, pgx.ErrNoRows) {
			outs[i].refused = true
		} else if serr != nil {
			err = serr
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	var pe *pgconn.PgError
	switch {
	case err == nil: // committed: every deduction of the batch took effect or was refused
		for i, j := range live {
			if outs[i].refused {
				rc, err := db.refusal(ctx, j.d)
				j.done <- result{rc, err}
			} else {
				j.done <- result{rc: receipt(outs[i].t, outs[i].notices)}
			}
		}
	case errors.As(err, &pe):
		// The server refused a statement (a racing repeat of a key, say) and rolled the whole batch
		// back: run each deduction alone, where such refusals are explained.
		for _, j := range live {
			rc, err := db.deductOne(ctx, j)
			j.done <- result{rc, err}
		}
	default:
		// The connection failed: the batch may or may not have committed. Say so; a repeat with the
		// same idempotency key learns the outcome.
		unknown := &creditd.Error{Code: creditd.EUNAVAILABLE, Message: "the postgres connection failed during the deduction, " +
			"so its outcome is unknown; repeat the request with the same Idempotency-Key to learn it (" + err.Error() + ")"}
		for _, j := range live {
			j.done <- result{err: unknown}
		}
	}
}
