// Package sqlite implements creditd.Store on an embedded SQLite database (modernc.org/sqlite, pure Go).
//
// The database runs in WAL mode with synchronous=FULL. Reads go through a pool of
// read-only connections; every write goes through one writer goroutine that owns the only writing
// connection. The writer groups the writes that queue up while it is busy into one SQLite transaction
// ("group commit"), each write inside its own SAVEPOINT, so a failing write rolls back alone and one
// fsync covers many deductions; a write's caller hears back only after that transaction committed.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tallyhq/tally/creditd"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// Memory is the path of a private in-memory database (one connection; it vanishes on Close).
const Memory = ":memory:"

// Defaults of the DB's tunables.
const (
	DefaultMaxBatch    = 128
	DefaultReaders     = 4
	DefaultSynchronous = "FULL"
	busyTimeoutMillis  = 5000
)

// ErrClosed is returned by calls on a closed DB.
var ErrClosed = &creditd.Error{Code: creditd.EUNAVAILABLE, Message: "the sqlite store is closed"}

// DB is a creditd.Store on one SQLite database file. Set the exported fields, then call Open; the DB is
// then safe for concurrent use until Close.
type DB struct {
	Path string // file path, or Memory
	// Synchronous is SQLite's synchronous pragma for the writer: FULL (default: a committed deduction
	// survives power loss) or NORMAL (survives a crash of the process, not of the machine).
	Synchronous string
	MaxBatch    int              // writes per group commit; 0 means DefaultMaxBatch
	Readers     int              // read connections; 0 means DefaultReaders
	Now         func() time.Time // clock for created_at; nil means time.Now

	writer *sql.DB // exactly one connection, used only by the writer goroutine (and reads in Memory mode)
	reader *sql.DB
	stmts  statements

	mu      sync.RWMutex // guards closed and sends on jobs
	closed  bool
	jobs    chan *job
	stopped chan struct{}
}

var _ creditd.Store = (*DB)(nil)

// NewDB returns a DB for the database at path (a file, created if absent, or Memory).
func NewDB(path string) *DB {
	return &DB{Path: path}
}

// Name implements creditd.Store.
func (db *DB) Name() string { return "sqlite" }

// Open opens the database, applies pending migrations and starts the writer.
func (db *DB) Open(ctx context.Context) (err error) {
	if db.Path == "" {
		return errors.New("sqlite: empty path")
	}
	if db.Synchronous == "" {
		db.Synchronous = DefaultSynchronous
	}
	if s := strings.ToUpper(db.Synchronous); s != "FULL" && s != "NORMAL" {
		return fmt.Errorf("sqlite: synchronous %q: use FULL or NORMAL", db.Synchronous)
	}
	if db.MaxBatch <= 0 {
		db.MaxBatch = DefaultMaxBatch
	}
	if db.Readers <= 0 {
		db.Readers = DefaultReaders
	}
	if db.Now == nil {
		db.Now = time.Now
	}
	defer func() {
		if err != nil {
			db.closeDBs()
		}
	}()

	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(busyTimeoutMillis)+")")
	q.Set("_txlock", "immediate")
	if db.Path == Memory {
		if db.writer, err = sql.Open("sqlite", "file::memory:?"+q.Encode()); err != nil {
			return fmt.Errorf("open sqlite: %w", err)
		}
		db.writer.SetMaxOpenConns(1)
		db.writer.SetMaxIdleConns(1)
		db.writer.SetConnMaxLifetime(0)
		db.writer.SetConnMaxIdleTime(0)
		db.reader = db.writer
	} else {
		if dir := filepath.Dir(db.Path); dir != "" {
			if _, err := os.Stat(dir); err != nil {
				return fmt.Errorf("open sqlite: directory of %s: %w", db.Path, err)
			}
		}
		w := url.Values{"_pragma": append([]string{"journal_mode(WAL)", "synchronous(" + db.Synchronous + ")"}, q["_pragma"]...)}
		w.Set("_txlock", "immediate")
		if db.writer, err = sql.Open("sqlite", "file:"+escapePath(db.Path)+"?"+w.Encode()); err != nil {
			return fmt.Errorf("open sqlite: %w", err)
		}
		db.writer.SetMaxOpenConns(1)
		db.writer.SetMaxIdleConns(1)
		db.writer.SetConnMaxLifetime(0)
		db.writer.SetConnMaxIdleTime(0)
		// The first connection switches the file to WAL and creates it; readers need it to exist.
		if err := db.writer.PingContext(ctx); err != nil {
			return fmt.Errorf("open sqlite %s: %w", db.Path, err)
		}
		r := url.Values{"_pragma": append([]string{"query_only(1)"}, q["_pragma"]...)}
		if db.reader, err = sql.Open("sqlite", "file:"+escapePath(db.Path)+"?"+r.Encode()); err != nil {
			return fmt.Errorf("open sqlite: %w", err)
		}
		db.reader.SetMaxOpenConns(db.Readers)
		db.reader.SetMaxIdleConns(db.Readers)
	}
	if err := db.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("open sqlite %s: %w", db.Path, err)
	}
	if err := db.migrate(ctx); err != nil {
		return fmt.Errorf("migrate sqlite %s: %w", db.Path, err)
	}
	if err := db.stmts.prepare(ctx, db.writer); err != nil {
		return fmt.Errorf("prepare sqlite statements: %w", err)
	}
	db.jobs = make(chan *job, 4*db.MaxBatch)
	db.stopped = make(chan struct{})
	go db.writeLoop()
	return nil
}

// Close stops the writer after the queued writes, then closes the database. It is safe to call twice.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed || db.jobs == nil {
		db.closed = true
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	close(db.jobs)
	db.mu.Unlock()
	<-db.stopped
	db.stmts.close()
	return db.closeDBs()
}

func (db *DB) closeDBs() error {
	var errs []error
	if db.reader != nil && db.reader != db.writer {
		errs = append(errs, db.reader.Close())
	}
	if db.writer != nil {
		errs = append(errs, db.writer.Close())
	}
	return errors.Join(errs...)
}

// Ping implements creditd.Store: it runs a query on a read connection.
func (db *DB) Ping(ctx context.Context) error {
	if db.isClosed() {
		return ErrClosed
	}
	var one int
	if err := db.reader.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations LIMIT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

func (db *DB) isClosed() bool {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.closed
}

// migrate applies the embedded migrations that schema_migrations does not list yet, each in its own
// transaction. Running it again is a no-op.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
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
		if err := db.applyMigration(ctx, version, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

func (db *DB) applyMigration(ctx context.Context, version int, name string) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	body, err := migrationFS.ReadFile(name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		version, filepath.Base(name), db.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}

// isConstraint reports whether err is a SQLite constraint violation (unique, primary key, foreign key).
func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

func escapePath(p string) string {
	// url.PathEscape keeps '/', which SQLite's URI parser wants, and escapes '?' and '#'.
	return strings.ReplaceAll(url.PathEscape(p), "%2F", "/")
}
