-- Accounts, their debit records and threshold notices.
CREATE TABLE accounts (
	user_id              text PRIMARY KEY,
	granted              bigint NOT NULL,
	remaining            bigint NOT NULL,
	used                 bigint NOT NULL,
	version              bigint NOT NULL DEFAULT 0,
	low_balance_notified boolean NOT NULL DEFAULT false,
	depleted_notified    boolean NOT NULL DEFAULT false,
	created_at           timestamptz NOT NULL
);

-- Identity ids are never reused, so "after=<id>" cursors stay valid across deletions. A record is only
-- ever inserted by the statement that updated its account row, so no foreign key is needed to keep them
-- together; DeleteAccount removes both in one transaction.
CREATE TABLE transactions (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id         text NOT NULL,
	feature         text NOT NULL,
	amount          bigint NOT NULL,
	balance_after   bigint NOT NULL,
	version         bigint NOT NULL,
	idempotency_key text,
	fingerprint     text NOT NULL,
	created_at      timestamptz NOT NULL
);
CREATE INDEX transactions_by_user ON transactions (user_id, id);
-- At most one debit per idempotency key and account (NULL keys are distinct).
CREATE UNIQUE INDEX transactions_by_key ON transactions (user_id, idempotency_key);

CREATE TABLE notices (
	id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id        text NOT NULL,
	kind           text NOT NULL CHECK (kind IN ('low_balance', 'depleted')),
	dedup_key      text NOT NULL,
	remaining      bigint NOT NULL,
	transaction_id bigint NOT NULL,
	created_at     timestamptz NOT NULL,
	-- Exactly-once notices: the correct path uses the kind as dedup_key.
	UNIQUE (user_id, dedup_key)
);
