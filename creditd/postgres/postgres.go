// Package postgres implements creditd.Store on PostgreSQL through a github.com/jackc/pgx/v5 pool.
//
// A deduction is one SQL statement: a data-modifying WITH query that makes the conditional decrement,
// writes the debit record and any threshold notice. The unique indexes on (user_id, idempotency_key)
// and (user_id, dedup_key) keep idempotency and exactly-once notices under READ COMMITTED races: a
// racing repeat of a key fails on the index and its whole statement rolls back.
//
// Deductions that arrive together are sent together: a few batcher goroutines each take what has
// queued up and send it as one pipelined batch, which PostgreSQL runs as one implicit transaction (one
// round trip, one commit for many deductions). A batch that fails on the server is rolled back whole
// and its deductions run again one by one.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tallyhq/tally/creditd"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// Defaults of the DB's tunables.
const (
	DefaultMaxConns = 16 // pool size when the DSN does not set pool_max_conns
	DefaultBatchers = 4
	DefaultMaxBatch = 64
)

// DB is a creditd.Store on one PostgreSQL database (schema). Set the exported fields, then call Open;
// the DB is then safe for concurrent use until Close.
type DB struct {
	DSN string // postgres://user@host:port/db?sslmode=disable&pool_max_conns=16, or key=value form
	// Schema, when set, is created if absent and used as the search_path of every connection; empty
	// means the DSN's (by default "public").
	Schema string
	Now    func() time.Time // clock for created_at; nil means time.Now
	// Batchers is how many batches may be in flight at once; MaxBatch bounds one batch. Zero means
	// DefaultBatchers and DefaultMaxBatch.
	Batchers, MaxBatch int

	pool    *pgxpool.Pool
	mu      sync.RWMutex // guards closed and sends on jobs
	closed  bool
	jobs    chan *deduction
	stopped sync.WaitGroup
}

var _ creditd.Store = (*DB)(nil)

// NewDB returns a DB for the database at dsn.
func NewDB(dsn string) *DB {
	return &DB{DSN: dsn}
}

// Name implements creditd.Store.
func (db *DB) Name() string { return "postgres" }

// Open connects the pool, creates the schema if asked and applies pending migrations.
func (db *DB) Open(ctx context.Context) error {
	if db.Now == nil {
		db.Now = time.Now
	}
	if db.Batchers <= 0 {
		db.Batchers = DefaultBatchers
	}
	if db.MaxBatch <= 0 {
		db.MaxBatch = DefaultMaxBatch
	}
	cfg, err := pgxpool.ParseConfig(db.DSN)
	if err != nil {
		return fmt.Errorf("postgres dsn: %w", err)
	}
	if !strings.Contains(db.DSN, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	if db.Schema != "" {
		if err := createSchema(ctx, cfg.ConnConfig, db.Schema); err != nil {
			return err
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = db.Schema
	}
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return fmt.Errorf("connect postgres: %w", err)
	}
	if err := db.pool.Ping(ctx); err != nil {
		db.pool.Close()
		return fmt.Errorf("connect postgres: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		db.pool.Close()
		return fmt.Errorf("migrate postgres: %w", err)
	}
	db.jobs = make(chan *deduction, db.Batchers*db.MaxBatch)
	for range db.Batchers {
		db.stopped.Add(1)
		go db.batchLoop()
	}
	return nil
}

func createSchema(ctx context.Context, cc *pgx.ConnConfig, schema string) error {
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("connect postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	return nil
}

// Close finishes the queued deductions, then closes the pool. It is safe to call twice.
func (db *DB) Close() error {
	db.mu.Lock()
	if !db.closed && db.jobs != nil {
		close(db.jobs)
	}
	db.closed = true
	db.mu.Unlock()
	db.stopped.Wait()
	if db.pool != nil {
		db.pool.Close()
	}
	return nil
}

// Ping implements creditd.Store.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// migrate applies the embedded migrations that schema_migrations does not list yet, one transaction
// each, under an advisory lock so that servers starting together do not race. Running it again is a
// no-op.
func (db *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", name)
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.creditd_migrations'))`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`); err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, version).Scan(&done); err != nil || done {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				version, filepath.Base(name), db.now())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

func (db *DB) now() time.Time { return db.Now().UTC().Truncate(time.Microsecond) }

// uniqueViolation reports whether err violates the named unique index or constraint.
func uniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && (constraint == "" || pe.ConstraintName == constraint)
}

// unavailable marks errors that mean the database cannot be reached, so the API answers 503.
func unavailable(err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) {
		return &creditd.Error{Code: creditd.EUNAVAILABLE, Message: "the postgres store cannot be reached: " + err.Error()}
	}
	return err
}

func notFound(userID string) error {
	return creditd.Errorf(creditd.ENOTFOUND, "no account for user %q; create it first", userID)
}
