package ledger

import (
	"sort"
	"time"
)

// Kind is the class of a finding; its value is the anomaly's name in
// reports, metric tags and the text summary.
type Kind string

// Anomaly kinds.
const (
	KindOverdraft              Kind = "overdraft"               // a balance below zero
	KindLostUpdate             Kind = "lost_update"             // confirmed credits that never left the balance
	KindDoubleCharge           Kind = "double_charge"           // one request debited more than once
	KindOvercharge             Kind = "overcharge"              // credits taken that no request explains (without a log to tell which)
	KindServerOnlyDebit        Kind = "server_only_debit"       // a logged debit no generator requested
	KindMissingDebit           Kind = "missing_debit"           // a confirmed deduction, or a balance drop, with no log record
	KindChargeWithoutService   Kind = "charge_without_service"  // debited although the request was refused or failed explicitly
	KindStaleRead              Kind = "stale_read"              // a read missed a deduction that finished before it began
	KindRealTime               Kind = "real_time"               // an observation of a deduction that had not begun yet
	KindPriceMismatch          Kind = "price_mismatch"          // charged a different amount than the expected price
	KindNotificationDuplicate  Kind = "notification_duplicate"  // more than one notice of a kind
	KindNotificationMissing    Kind = "notification_missing"    // a notice that was due is absent
	KindNotificationUnexpected Kind = "notification_unexpected" // a notice or flag that was never due
	KindConservation           Kind = "conservation"            // totals that do not add up (used credits, per-feature log totals, an unexplainable residue)
	KindNotLinearizable        Kind = "not_linearizable"        // the deep check found no linearization
)

// Kinds lists every anomaly kind, in report order.
var Kinds = []Kind{
	KindOverdraft, KindLostUpdate, KindDoubleCharge, KindOvercharge, KindServerOnlyDebit,
	KindMissingDebit, KindChargeWithoutService, KindStaleRead, KindRealTime, KindPriceMismatch,
	KindNotificationDuplicate, KindNotificationMissing, KindNotificationUnexpected, KindConservation,
	KindNotLinearizable,
}

// Verdict is the tri-state result of a verification.
type Verdict string

// Verdicts. Undecided means nothing wrong was found but a check could not
// run (an account without an opening or closing snapshot, for instance).
// "unknown" is reserved for outcomes (OutcomeKind Unknown): a verdict is
// never unknown, only undecided.
const (
	Pass      Verdict = "pass"
	Fail      Verdict = "fail"
	Undecided Verdict = "undecided"
	// NotExercised is an account no deduction or read touched and in which
	// nothing was found wrong: it proves nothing, so it is not verified.
	NotExercised Verdict = "not_exercised"
)

// Linearizability is the result of the deep check on one account.
type Linearizability string

// Linearizability results.
const (
	LinOff         Linearizability = "off"           // deep check not requested
	LinOK          Linearizability = "ok"            // a linearization exists
	LinIllegal     Linearizability = "illegal"       // none exists: a failure
	LinOutOfBudget Linearizability = "out_of_budget" // the search ran out of time, memory or the run's total budget: not a failure
	LinSkipped     Linearizability = "skipped"       // not run: too many operations, or no opening snapshot
	// LinNotExercised is an account no deduction or read touched: there is
	// nothing to linearize, so it is not counted as linearizable.
	LinNotExercised Linearizability = "not_exercised"
)

// Finding is one anomaly: its kind, the account, the credits involved (0
// when the anomaly is not about an amount), what was expected and what was
// seen, in plain words, and the operations involved ("#17", or "i2#17" when
// journals of several instances were merged).
type Finding struct {
	Kind     Kind     `json:"kind"`
	Account  string   `json:"account"`
	Credits  int64    `json:"credits"`
	Expected string   `json:"expected"`
	Seen     string   `json:"seen"`
	Ops      []string `json:"ops"`
	Detail   string   `json:"detail,omitempty"`
}

// Interval is the interval check of an account: the closing balance End
// must lie in [Lo, Hi].
type Interval struct {
	Lo  int64 `json:"lo"`
	Hi  int64 `json:"hi"`
	End int64 `json:"end"`
}

// Counts are the operations of an account (or of the run) by outcome.
type Counts struct {
	Deductions   int `json:"deductions"`
	OK           int `json:"ok"`
	Insufficient int `json:"insufficient"`
	Rejected     int `json:"rejected"`
	Unknown      int `json:"unknown"`  // unresolved at verification (pending ones included)
	Pending      int `json:"pending"`  // never settled
	Resolved     int `json:"resolved"` // unknown outcomes resolved by replay (counted as ok or insufficient too) or by the server log
	// Unknown outcomes the server log resolved: charged (their key is in
	// the log) or not. OK+Insufficient+Rejected+LogCharged+LogNotCharged+
	// Unknown is Deductions.
	LogCharged    int `json:"logCharged"`
	LogNotCharged int `json:"logNotCharged"`
	Reads         int `json:"reads"`
}

func (c *Counts) add(o Counts) {
	c.Deductions += o.Deductions
	c.OK += o.OK
	c.LogCharged += o.LogCharged
	c.LogNotCharged += o.LogNotCharged
	c.Insufficient += o.Insufficient
	c.Rejected += o.Rejected
	c.Unknown += o.Unknown
	c.Pending += o.Pending
	c.Resolved += o.Resolved
	c.Reads += o.Reads
}

// AccountReport is the verdict on one account.
type AccountReport struct {
	Verdict      Verdict         `json:"verdict"`
	Interval     *Interval       `json:"interval,omitempty"`
	UnknownTaken int64           `json:"unknownTaken"` // credits taken by unknown deductions, by the interval check
	Counts       Counts          `json:"counts"`
	Confirmed    int64           `json:"confirmed"`  // credits of confirmed (and resolved charged) deductions
	Unresolved   int64           `json:"unresolved"` // credits of deductions still unknown
	Leaked       int64           `json:"leaked"`
	Overcharged  int64           `json:"overcharged"`
	Linearizable Linearizability `json:"linearizable"`
	Anomalies    []Finding       `json:"anomalies"`
	Omitted      int             `json:"omitted,omitempty"` // findings counted but not listed (over MaxFindings per kind)
	Notes        []string        `json:"notes,omitempty"`
	Shared       bool            `json:"shared,omitempty"` // deductions or reads came from several instances
}

// FeatureTotals are the credits per feature over the run.
type FeatureTotals struct {
	Ops        int   `json:"ops"`
	Confirmed  int64 `json:"confirmed"`
	Unresolved int64 `json:"unresolved"`
	Logged     int64 `json:"logged"` // debits of the feature in the server logs handed over
}

// Totals sum the accounts.
type Totals struct {
	Accounts     int    `json:"accounts"`
	Passed       int    `json:"passed"`
	Failed       int    `json:"failed"`
	Undecided    int    `json:"undecided"`
	NotExercised int    `json:"notExercised"` // accounts without a deduction or read (and without findings)
	Start        int64  `json:"start"`        // sum of opening balances
	End          int64  `json:"end"`          // sum of closing balances
	Confirmed    int64  `json:"confirmed"`
	Unresolved   int64  `json:"unresolved"`
	UnknownTaken int64  `json:"unknownTaken"`
	Leaked       int64  `json:"leaked"`
	Overcharged  int64  `json:"overcharged"`
	Counts       Counts `json:"counts"`
}

// DeepSummary sums the deep check over accounts.
type DeepSummary struct {
	Mode         string        `json:"mode"` // "off" or "auto"
	OK           int           `json:"ok"`
	Illegal      int           `json:"illegal"`
	OutOfBudget  int           `json:"outOfBudget"`
	NotRun       int           `json:"notRun"` // of OutOfBudget: accounts not checked at all, the total budget spent before their turn
	Skipped      int           `json:"skipped"`
	NotExercised int           `json:"notExercised"` // accounts without a deduction or read: nothing to check
	Elapsed      time.Duration `json:"elapsedNs"`
}

// Report is the result of a verification.
type Report struct {
	Verdict       Verdict                   `json:"verdict"`
	Totals        Totals                    `json:"totals"`
	Features      map[string]*FeatureTotals `json:"features"`
	Accounts      map[string]*AccountReport `json:"accounts"`
	Discrepancies map[Kind]int              `json:"discrepancies"` // findings by kind, listed or not
	Deep          DeepSummary               `json:"deep"`
	Instances     []string                  `json:"instances"`
	AmountSign    *SignReport               `json:"amountSign,omitempty"` // how the server logs were read; nil without logs
	Segments      *SegmentReport            `json:"segments,omitempty"`   // execution segments covered; nil when the run was not split
	Notes         []string                  `json:"notes,omitempty"`
	Elapsed       time.Duration             `json:"elapsedNs"`
}

// Findings returns every listed finding, ordered by account, then kind order.
func (r *Report) Findings() []Finding {
	var out []Finding
	for _, id := range r.AccountIDs() {
		out = append(out, r.Accounts[id].Anomalies...)
	}
	return out
}

// AccountIDs returns the account ids in sorted order.
func (r *Report) AccountIDs() []string {
	ids := make([]string, 0, len(r.Accounts))
	for id := range r.Accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// DiscrepancyCount is the number of findings of all kinds.
func (r *Report) DiscrepancyCount() int {
	n := 0
	for _, c := range r.Discrepancies {
		n += c
	}
	return n
}
