// Package ledger is the pure-Go core of tally's ledger extension
// (k6/x/ledger): shared bookkeeping of a credit system under load, and an
// integrity verdict on it.
//
// A Ledger is shared by every VU of a process. Scripts record, per account,
// an opening snapshot (Open, in setup, while the account is idle), every
// deduction as Begin right before the request and Settle right after the
// answer (ok with the balance the server reported, insufficient, rejected or
// unknown), balance reads (BeginRead/SettleRead), and at the end a closing
// snapshot (Close, after a settle delay), the notices (Notifications) and
// the server's transaction log (ServerLog). Deductions left unknown can be
// resolved by replaying them with the same idempotency key (Unknowns,
// SettleReplay).
//
// Verify checks the bookkeeping with fast, exact checks on black-box
// histories: the interval check on the closing balance, the counter rule on
// every observed balance, the balance chain of confirmed deductions (and
// their versions), real-time order, no overdraft, conservation of used
// credits and per-feature totals, exactly-once notices, and reconciliation
// with the server log joined on idempotency keys. Unknown outcomes never
// cause a false alarm: each check only fails when no choice of which unknown
// deductions took effect explains what was seen. An optional deep check
// runs porcupine per account under time and memory budgets; running out of
// budget makes that account's linearizability unknown, never a failure.
// Every finding names its kind (KindLostUpdate, ...), the credits involved,
// expected vs. seen, and the operations.
//
// The Ledger can stream a journal (NDJSON) of everything it records;
// journals of several instances of one run merge (VerifyJournals,
// Ledger.Merge) into the same verdict one instance would reach. WriteText
// renders a report in plain words.
//
// The package imports no JS engine and no metrics package: a binding
// converts values and forwards the Observer's samples (see Metrics).
// Timestamps come from Config.Clock, so tests are deterministic.
package ledger
