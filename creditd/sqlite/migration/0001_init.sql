-- Accounts, their debit records and threshold notices. Times are Unix microseconds (UTC).
CREATE TABLE accounts (
	user_id              TEXT PRIMARY KEY,
	granted              INTEGER NOT NULL,
	remaining            INTEGER NOT NULL,
	used                 INTEGER NOT NULL,
	version              INTEGER NOT NULL DEFAULT 0,
	low_balance_notified INTEGER NOT NULL DEFAULT 0,
	depleted_notified    INTEGER NOT NULL DEFAULT 0,
	created_at           INTEGER NOT NULL
);

-- AUTOINCREMENT: ids are never reused, so "after=<id>" cursors stay valid across deletions. A record is
-- only ever written in the transaction that updated its account row, so no foreign key is needed to keep
-- them together; DeleteAccount removes both in one transaction.
CREATE TABLE transactions (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id         TEXT NOT NULL,
	feature         TEXT NOT NULL,
	amount          INTEGER NOT NULL,
	balance_after   INTEGER NOT NULL,
	version         INTEGER NOT NULL,
	idempotency_key TEXT,
	fingerprint     TEXT NOT NULL,
	created_at      INTEGER NOT NULL
);
-- At most one debit per idempotency key and account (NULL keys are distinct). It also serves the
-- per-account listing (rows of one user_id, then sorted by id): a second per-account index would make
-- every deduction dirty one more page, and page writes are what a commit costs.
CREATE UNIQUE INDEX transactions_by_key ON transactions (user_id, idempotency_key);

CREATE TABLE notices (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id        TEXT NOT NULL,
	kind           TEXT NOT NULL CHECK (kind IN ('low_balance', 'depleted')),
	dedup_key      TEXT NOT NULL,
	remaining      INTEGER NOT NULL,
	transaction_id INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	-- Exactly-once notices: the correct path uses the kind as dedup_key.
	UNIQUE (user_id, dedup_key)
);
