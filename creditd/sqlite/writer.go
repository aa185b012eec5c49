package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tallyhq/tally/creditd"
	"github.com/tallyhq/tally/creditd/internal/batch"
)

// job is one write. fn runs inside the current group transaction and must keep one rule: it may fail
// with a *creditd.Error (a refusal: not found, insufficient, conflict...) only before its first write.
// Any other error aborts the group transaction; the writer then runs the group again without that job,
// so one broken write never costs the others theirs, and nothing is ever committed half-written.
type job struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error // buffered; receives fn's error, or the commit's
}

// write runs fn in the writer's next group transaction and returns once that transaction committed (or
// failed). A job whose ctx ends while it is queued is skipped; once it started it runs to the end, so
// the caller never reports an error for a write that committed.
func (db *DB) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	j := &job{ctx: ctx, fn: fn, done: make(chan error, 1)}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return ErrClosed
	}
	select {
	case db.jobs <- j:
	case <-ctx.Done():
		db.mu.RUnlock()
		return ctx.Err()
	}
	db.mu.RUnlock()
	return <-j.done
}

// writeLoop is the single writer. It runs the first queued job with whatever else queued up behind it
// (up to MaxBatch) in one transaction. It exits when jobs is closed and drained.
func (db *DB) writeLoop() {
	defer close(db.stopped)
	batch.Loop(db.jobs, db.MaxBatch, db.runBatch)
}

// runBatch commits the batch in one transaction and answers every job. When a job aborts the
// transaction, it gets its error and the others run again in a fresh transaction.
func (db *DB) runBatch(batch []*job) {
	errs := make([]error, len(batch))
	for len(batch) > 0 {
		clear(errs)
		bad, err := db.runTx(batch, errs[:len(batch)])
		if err == nil {
			for i, j := range batch {
				j.done <- errs[i]
			}
			return
		}
		if bad < 0 { // begin or commit failed: nothing of the batch is committed
			for _, j := range batch {
				j.done <- err
			}
			return
		}
		batch[bad].done <- err
		batch = append(batch[:bad], batch[bad+1:]...)
	}
}

// runTx runs the batch in one transaction, filling errs with each job's refusal. On error nothing is
// committed, and bad is the index of the job that aborted the transaction (-1: begin or commit failed).
func (db *DB) runTx(batch []*job, errs []error) (bad int, err error) {
	tx, err := db.writer.BeginTx(context.Background(), nil)
	if err != nil {
		return -1, fmt.Errorf("begin: %w", err)
	}
	ran := 0
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		ctx := context.WithoutCancel(j.ctx) // a started write finishes
		err := j.fn(ctx, tx)
		var refusal *creditd.Error
		if err != nil && !errors.As(err, &refusal) {
			_ = tx.Rollback()
			return i, err
		}
		errs[i] = err
		ran++
	}
	if ran == 0 {
		return -1, tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		return -1, fmt.Errorf("commit: %w", err)
	}
	return -1, nil
}
