package ledger

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync/atomic"
	"time"
)

// DeepMode selects the porcupine deep check.
type DeepMode uint8

// Deep check modes.
const (
	DeepOff  DeepMode = iota // no deep check (the zero value)
	DeepAuto                 // run it on every account with at most MaxOps deductions, within the budgets
)

// ParseDeepMode parses "off" or "auto" ("" is off).
func ParseDeepMode(s string) (DeepMode, error) {
	switch s {
	case "", "off":
		return DeepOff, nil
	case "auto", "on":
		return DeepAuto, nil
	}
	return 0, fmt.Errorf("deep check mode %q: want auto or off", s)
}

// String returns "auto" or "off".
func (m DeepMode) String() string {
	if m == DeepAuto {
		return "auto"
	}
	return "off"
}

// Defaults of VerifyOptions.
const (
	DefaultAccountBudget = 5 * time.Second
	DefaultTotalBudget   = 60 * time.Second
	DefaultMaxOps        = 20000
	DefaultMemoryBudget  = 192 << 20
	DefaultMaxFindings   = 10
)

// VerifyOptions tune a verification. The zero value runs the fast checks only.
type VerifyOptions struct {
	Deep          DeepMode
	AccountBudget time.Duration // deep check time per account; 0 means DefaultAccountBudget
	TotalBudget   time.Duration // deep check time in total; 0 means DefaultTotalBudget
	MaxOps        int           // accounts with more deductions skip the deep check; 0 means DefaultMaxOps
	MemoryBudget  int64         // estimated search memory per account, bytes; 0 means DefaultMemoryBudget
	Workers       int           // deep check workers; 0 means GOMAXPROCS
	VisualizeDir  string        // when set, an account found not linearizable gets an HTML visualization there

	MaxFindings int  // findings listed per account and kind (all are counted); 0 means DefaultMaxFindings
	NoLogJoin   bool // do not resolve unknown outcomes from server logs

	// LowThreshold overrides the low-balance threshold of the bookkeeping
	// (0 keeps it; negative disables the rule).
	LowThreshold int64

	// AmountSign forces how the server logs write debits; SignAuto takes
	// the configured one of the bookkeeping, or detects it (detectSign).
	AmountSign AmountSign

	// TempDir is where verification spills records ("" means os.TempDir());
	// the files are unlinked at creation, so none is left behind.
	TempDir string

	allSegments  bool  // the journals claim to be the whole run: an incomplete set of segments is no pass
	groupRecords int64 // records verified together; 0 means DefaultGroupRecords
}

func (o VerifyOptions) withDefaults() VerifyOptions {
	if o.AccountBudget <= 0 {
		o.AccountBudget = DefaultAccountBudget
	}
	if o.TotalBudget <= 0 {
		o.TotalBudget = DefaultTotalBudget
	}
	if o.MaxOps <= 0 {
		o.MaxOps = DefaultMaxOps
	}
	if o.MemoryBudget <= 0 {
		o.MemoryBudget = DefaultMemoryBudget
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.MaxFindings <= 0 {
		o.MaxFindings = DefaultMaxFindings
	}
	return o
}

// Verify checks the bookkeeping so far (and any journals merged in) and
// reports the verdict per account and overall. It reports the verdict's
// metrics to the Observer (discrepancies by kind, leaked and overcharged
// credits, unresolved outcomes, deep checks out of budget, accounts
// verified); call it once, at the end of the run. It errs only when ctx is
// done before the fast checks finish; a deep check cut short by ctx marks
// the remaining accounts' linearizability unknown. It reads the records
// back from the spill a group of accounts at a time (groups.go).
func (l *Ledger) Verify(ctx context.Context, opts VerifyOptions) (*Report, error) {
	l.firstUse(ctx)
	srcs := []source{liveSource{l}}
	var notes []string
	l.mu.Lock()
	for _, st := range l.merged {
		srcs = append(srcs, st)
		notes = append(notes, st.notes...)
	}
	l.mu.Unlock()
	if err := checkInstances(headers(srcs)); err != nil {
		return nil, err
	}
	if l.jw != nil {
		if err := l.jw.failure(); err != nil {
			notes = append(notes, "the journal is incomplete: "+err.Error())
		}
	}
	opts.allSegments = len(srcs) > 1 // merged with other instances' journals
	if opts.TempDir == "" {
		opts.TempDir = l.cfg.SpillDir
	}
	r, err := verifySources(ctx, srcs, notes, opts)
	if err != nil {
		return nil, err
	}
	l.emitReport(ctx, r)
	return r, nil
}

func (l *Ledger) emitReport(ctx context.Context, r *Report) {
	if l.obs == nil {
		return
	}
	for _, k := range Kinds {
		if n := r.Discrepancies[k]; n > 0 {
			l.obs.Observe(ctx, Sample{Metric: MetricDiscrepancies, Value: float64(n), Tags: Tags{Kind: string(k)}})
		}
	}
	// Credits confirmed after the answers (unknown outcomes the server log
	// shows charged, other instances' in a merge): the metric ends equal to
	// the verdict's figure.
	for name, f := range r.Features {
		var sent int64
		if v, ok := l.confirmed.Load(name); ok {
			sent = v.(*atomic.Int64).Load()
		}
		if d := f.Confirmed - sent; d > 0 {
			l.emitConfirmed(ctx, name, d)
		}
	}
	l.obs.Observe(ctx, Sample{Metric: MetricCreditsLeaked, Value: float64(r.Totals.Leaked)})
	l.obs.Observe(ctx, Sample{Metric: MetricCreditsOvercharge, Value: float64(r.Totals.Overcharged)})
	l.obs.Observe(ctx, Sample{Metric: MetricUnknownOutcomes, Value: float64(r.Totals.Counts.Unknown)})
	l.obs.Observe(ctx, Sample{Metric: MetricLinearizabilityNA, Value: float64(r.Deep.OutOfBudget)})
	for _, id := range r.AccountIDs() {
		if r.Accounts[id].Verdict == NotExercised {
			continue // proves nothing: neither verified nor failed
		}
		v := 0.0
		if r.Accounts[id].Verdict == Pass {
			v = 1
		}
		l.obs.Observe(ctx, Sample{Metric: MetricAccountsVerified, Value: v})
	}
}

// verification gathers the report of a verification, one group of
// accounts after the other.
type verification struct {
	opts      VerifyOptions
	insts     []instance
	low       int64
	overdraft bool
	sign      AmountSign // how logged amounts are read, once decided
	r         *Report
	start     time.Time
	deadline  time.Time // of the deep check's total budget, set when the first group's deep check starts
}

// newVerification starts a verification of the instances' bookkeeping,
// with their notes.
func newVerification(insts []instance, notes []string, opts VerifyOptions) *verification {
	v := &verification{opts: opts.withDefaults(), insts: insts, low: DefaultLowThreshold, start: time.Now()}
	v.r = &Report{
		Features:      make(map[string]*FeatureTotals),
		Accounts:      make(map[string]*AccountReport),
		Discrepancies: make(map[Kind]int),
		Notes:         append([]string(nil), notes...),
		Deep:          DeepSummary{Mode: v.opts.Deep.String()},
	}
	if len(insts) > 0 {
		v.low, v.overdraft = insts[0].low, insts[0].overdraft
		for _, in := range insts[1:] {
			if in.low != v.low {
				v.r.Notes = append(v.r.Notes, fmt.Sprintf("instances disagree on the low-balance threshold (%d and %d); using %d", v.low, in.low, v.low))
				break
			}
		}
	}
	if v.opts.LowThreshold != 0 {
		v.low = v.opts.LowThreshold
	}
	v.sign = v.opts.AmountSign
	for _, in := range insts {
		r := &v.r.Instances
		*r = append(*r, in.name)
		if v.sign == SignAuto && in.sign != SignAuto {
			v.sign = in.sign
		}
	}
	return v
}

// verifyHistory runs every check on one history held in memory whole.
func verifyHistory(ctx context.Context, h *history, opts VerifyOptions) (*Report, error) {
	v := newVerification(h.insts, h.notes, opts)
	var votes signVotes
	votes.count(h)
	v.r.AmountSign = votes.decide(v.sign)
	v.applySign(h)
	if err := v.check(ctx, h, nil); err != nil {
		return nil, err
	}
	return v.finish(), nil
}

// verifySources verifies the bookkeeping of several instances a group of
// accounts at a time. Two global facts come first, each from a pass over
// the groups: how the server logs write debits (signVotes), and, for
// logged keys that name no deduction of their group, which deduction of
// another group sent them (foreignKeys).
func verifySources(ctx context.Context, srcs []source, notes []string, opts VerifyOptions) (*Report, error) {
	v := newVerification(headers(srcs), notes, opts)
	limit := opts.groupRecords
	if limit <= 0 {
		limit = DefaultGroupRecords
	}
	groups := planGroups(srcs, limit)
	sp := &splitter{dir: opts.TempDir}
	defer sp.release()
	if err := sp.splitAll(ctx, srcs, groups); err != nil {
		return nil, err
	}
	each := func(fn func(*history) error) error { return eachGroup(ctx, srcs, groups, sp, fn) }
	var foreign map[string]foreignOp
	if anyLogs(srcs) {
		var votes signVotes
		missing := make(map[string]struct{})
		err := each(func(h *history) error {
			votes.count(h)
			unjoinedKeys(h, missing)
			return nil
		})
		if err != nil {
			return nil, err
		}
		v.r.AmountSign = votes.decide(v.sign)
		if foreign, err = foreignKeys(each, missing); err != nil {
			return nil, err
		}
	}
	err := each(func(h *history) error {
		v.applySign(h)
		return v.check(ctx, h, foreign)
	})
	if err != nil {
		return nil, err
	}
	return v.finish(), nil
}

func anyLogs(srcs []source) bool {
	for _, s := range srcs {
		if s.hasLogs() {
			return true
		}
	}
	return false
}

// eachGroup loads each group in turn and calls fn with it.
func eachGroup(ctx context.Context, srcs []source, groups []group, sp *splitter, fn func(*history) error) error {
	for gi := range groups {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		h, err := loadGroup(srcs, groups, gi, sp)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if err := fn(h); err != nil {
			return err
		}
	}
	return nil
}

// applySign rewrites the logged amounts of h as positive debits when the
// logs write them negative.
func (v *verification) applySign(h *history) {
	if v.r.AmountSign != nil && v.r.AmountSign.Sign == SignNegative {
		negateLogs(h)
	}
}

// check runs the checks of every account of h (one group) and adds them to
// the report; foreign locates logged keys sent by deductions of other groups.
func (v *verification) check(ctx context.Context, h *history, foreign map[string]foreignOp) error {
	names := make([]string, 0, len(h.accounts))
	for n := range h.accounts {
		names = append(names, n)
	}
	sort.Strings(names)
	keys := keyLookup{foreign: foreign}
	for _, a := range h.accounts {
		if a.logSet {
			keys.local = keyIndex(h)
			break
		}
	}
	checks := make([]*acctCheck, 0, len(names))
	for i, name := range names {
		if i%64 == 0 && ctx.Err() != nil {
			return fmt.Errorf("verify: %w", ctx.Err())
		}
		c := newAcctCheck(h, h.accounts[name], &v.opts, v.low, v.overdraft)
		c.run(keys)
		c.obs, c.sums = nil, nil // only the fast checks use them
		v.r.Accounts[name] = c.rep
		checks = append(checks, c)
	}
	if v.opts.Deep == DeepAuto {
		if v.deadline.IsZero() {
			v.deadline = time.Now().Add(v.opts.TotalBudget)
		}
		deepCheck(ctx, checks, &v.opts, &v.r.Deep, v.deadline)
	}
	for _, c := range checks {
		c.finish()
		for k, n := range c.disc {
			v.r.Discrepancies[k] += n
		}
		c.addTotals(v.r)
	}
	return nil
}

// finish decides the overall verdict and returns the report.
func (v *verification) finish() *Report {
	r := v.r
	switch {
	case r.Totals.Failed > 0:
		r.Verdict = Fail
	case r.Totals.Undecided > 0 || r.Totals.Accounts == r.Totals.NotExercised:
		r.Verdict = Undecided
	default:
		r.Verdict = Pass
	}
	if r.Segments = checkSegments(v.insts); r.Segments != nil && !r.Segments.Complete {
		if v.opts.allSegments {
			if r.Verdict == Pass {
				r.Verdict = Undecided
			}
			r.Notes = append(r.Notes, "the journals do not cover the whole run ("+r.Segments.Text()+"): no pass for an incomplete set; verify every instance's journal together")
		} else {
			r.Notes = append(r.Notes, "this instance ran part of a split run ("+r.Segments.Text()+"): verify every instance's journal together (tally ledger verify) for the whole run")
		}
	}
	if r.Totals.Accounts == 0 {
		r.Notes = append(r.Notes, "no account was recorded")
	} else if r.Totals.Accounts == r.Totals.NotExercised {
		r.Notes = append(r.Notes, "no account saw a deduction or a read: nothing was verified")
	}
	r.Elapsed = time.Since(v.start)
	return r
}

// opLoc locates a deduction in a history.
type opLoc struct {
	a *mergedAccount
	i int
}

// foreignOp is a deduction of another group, named by a logged key.
type foreignOp struct {
	account string
	inst    int32
	id      uint64
}

// keyLookup finds the deduction that sent an idempotency key: in the
// group (local), else in another group (foreign).
type keyLookup struct {
	local   map[string]opLoc
	foreign map[string]foreignOp
}

// keyIndex maps idempotency keys to the deductions that sent them.
func keyIndex(h *history) map[string]opLoc {
	n := 0
	for _, a := range h.accounts {
		n += len(a.ops)
	}
	idx := make(map[string]opLoc, n)
	for _, a := range h.accounts {
		for i := range a.ops {
			if k := h.key(&a.ops[i]); k != "" {
				idx[k] = opLoc{a, i}
			}
		}
	}
	return idx
}

// unjoinedKeys adds to missing the logged keys of h that name no
// deduction of h: they may name one of another group.
func unjoinedKeys(h *history, missing map[string]struct{}) {
	var idx map[string]opLoc
	for _, a := range h.accounts {
		for i := range a.log {
			k := a.log[i].Key
			if k == "" {
				continue
			}
			if idx == nil {
				idx = keyIndex(h)
			}
			if _, ok := idx[k]; !ok {
				missing[k] = struct{}{}
			}
		}
	}
}

// foreignKeys finds, over every group, the deductions that sent the keys
// in missing.
func foreignKeys(each func(func(*history) error) error, missing map[string]struct{}) (map[string]foreignOp, error) {
	if len(missing) == 0 {
		return nil, nil
	}
	found := make(map[string]foreignOp)
	err := each(func(h *history) error {
		for _, a := range h.accounts {
			for i := range a.ops {
				o := &a.ops[i]
				if k := h.key(o); k != "" {
					if _, ok := missing[k]; ok {
						found[k] = foreignOp{account: a.name, inst: o.inst, id: o.id}
					}
				}
			}
		}
		return nil
	})
	return found, err
}

// acctCheck runs the checks of one account and collects its findings.
type acctCheck struct {
	h         *history
	a         *mergedAccount
	opts      *VerifyOptions
	low       int64
	overdraft bool
	rep       *AccountReport

	hasOpen, hasClose bool
	open, close       mergedSnapshot
	b0                int64

	disc   map[Kind]int
	listed map[Kind]int
	seen   map[string]struct{}

	leak, over struct{ interval, chain, log, counter int64 }
	cws        int64

	sums *sums // prefix sums of the counter rule, built once
	obs  []obs // observed balances in server order, built once
}

func newAcctCheck(h *history, a *mergedAccount, opts *VerifyOptions, low int64, overdraft bool) *acctCheck {
	return &acctCheck{
		h: h, a: a, opts: opts, low: low, overdraft: overdraft,
		rep:    &AccountReport{Linearizable: LinOff},
		disc:   make(map[Kind]int),
		listed: make(map[Kind]int),
		seen:   make(map[string]struct{}),
	}
}

// add records a finding; dedupe, when not empty, suppresses a second
// finding of the same kind about the same thing.
func (c *acctCheck) add(f Finding, dedupe string) {
	if dedupe != "" {
		k := string(f.Kind) + "\x00" + dedupe
		if _, dup := c.seen[k]; dup {
			return
		}
		c.seen[k] = struct{}{}
	}
	f.Account = c.a.name
	c.disc[f.Kind]++
	if c.listed[f.Kind] >= c.opts.MaxFindings {
		c.rep.Omitted++
		return
	}
	c.listed[f.Kind]++
	c.rep.Anomalies = append(c.rep.Anomalies, f)
}

func (c *acctCheck) note(format string, args ...any) {
	c.rep.Notes = append(c.rep.Notes, fmt.Sprintf(format, args...))
}

func (c *acctCheck) ref(o *mergedOp) string { return c.h.ref(o.inst, o.id) }

func (c *acctCheck) refs(ops ...*mergedOp) []string {
	out := make([]string, 0, len(ops))
	for _, o := range ops {
		if o != nil {
			out = append(out, c.ref(o))
		}
	}
	return out
}

// run executes the fast checks in order: snapshots, the server-log join
// (which resolves outcomes), classification, then the checks that use it.
func (c *acctCheck) run(keys keyLookup) {
	c.pickSnapshots()
	if c.a.logSet {
		c.reconcile(keys)
	}
	c.classify()
	c.priceChecks()
	c.overdraftCheck()
	c.chainCheck()
	if c.hasOpen {
		c.counterRule()
		if c.hasClose {
			c.intervalCheck()
		}
	}
	c.versionCheck()
	if c.disc[KindLostUpdate] == 0 {
		c.realTimeCheck()
	} else {
		c.note("real-time order not checked: lost updates break the balance order it relies on")
	}
	if c.a.logSet {
		c.logChain()
	}
	c.noticeCheck()
	c.usedCheck()
}

// pickSnapshots chooses the opening and closing snapshots and decides
// whether the checks that need them can run.
func (c *acctCheck) pickSnapshots() {
	a := c.a
	c.rep.Shared = len(a.insts) > 1
	if len(a.opens) > 0 {
		c.open = a.opens[0]
		for _, s := range a.opens[1:] {
			if s.snap.Balance != c.open.snap.Balance {
				c.note("opened twice with different balances (%d and %d); using the earlier", c.open.snap.Balance, s.snap.Balance)
			}
			if s.ret < c.open.ret {
				c.open = s
			}
		}
		c.hasOpen = true
		c.b0 = c.open.snap.Balance
		// Only operations that certainly began before the snapshot count:
		// with several instances, times are widened by each clock bound.
		early := 0
		for i := range a.ops {
			if a.ops[i].call+2*c.h.eps(a, a.ops[i].inst) < c.open.call {
				early++
			}
		}
		for i := range a.reads {
			if a.reads[i].call+2*c.h.eps(a, a.reads[i].inst) < c.open.call {
				early++
			}
		}
		if early > 0 {
			c.note("%s began before the opening snapshot, so it is not a starting balance: checks that need one are skipped", plural(int64(early), "operation"))
			c.hasOpen = false
		}
	} else if len(a.ops) > 0 || len(a.reads) > 0 || len(a.closes) > 0 {
		c.note("no opening snapshot: the interval check, the counter rule and the deep check need one")
	}
	if len(a.closes) > 0 {
		c.close = a.closes[0]
		for _, s := range a.closes[1:] {
			if s.snap.Balance != c.close.snap.Balance {
				c.note("closed twice with different balances (%d and %d); using the later", c.close.snap.Balance, s.snap.Balance)
			}
			if s.call > c.close.call {
				c.close = s
			}
		}
		c.hasClose = true
		late := 0
		for i := range a.ops {
			if a.ops[i].call > c.close.ret {
				late++
			}
		}
		if late > 0 {
			c.note("%s began after the closing snapshot; outside the checked window", plural(int64(late), "deduction"))
		}
	} else if len(a.opens) > 0 || len(a.ops) > 0 {
		c.note("no closing snapshot: the interval check needs one")
	}
}

// classify decides, per deduction, whether it took credits (stCharged), did
// not (stNone) or may have (stMaybe), and counts outcomes.
func (c *acctCheck) classify() {
	cnt := &c.rep.Counts
	cnt.Reads = len(c.a.reads)
	cnt.Deductions = len(c.a.ops)
	for i := range c.a.ops {
		o := &c.a.ops[i]
		if o.resolved { // by the server log, in reconcile
			cnt.Resolved++
			if o.state == stCharged {
				cnt.LogCharged++
			} else {
				cnt.LogNotCharged++
			}
			continue
		}
		o.eff = o.amount
		switch o.out.Kind {
		case OK:
			o.state, o.eff = stCharged, o.out.charge(o.amount)
			cnt.OK++
			if o.replayed {
				cnt.Resolved++
			}
		case Insufficient:
			o.state = stNone
			cnt.Insufficient++
			if o.replayed {
				cnt.Resolved++
			}
		case Rejected:
			o.state = stNone
			cnt.Rejected++
		case Pending:
			o.state = stMaybe
			cnt.Pending++
			cnt.Unknown++
		default:
			o.state = stMaybe
			cnt.Unknown++
		}
	}
	for i := range c.a.ops {
		o := &c.a.ops[i]
		switch o.state {
		case stCharged:
			c.rep.Confirmed += o.eff
		case stMaybe:
			c.rep.Unresolved += o.eff
		}
	}
}

// finish settles the account's verdict and loss estimates after the deep check.
func (c *acctCheck) finish() {
	c.rep.Leaked = max(c.leak.interval, c.leak.chain, c.leak.log, c.leak.counter)
	c.rep.Overcharged = max(c.over.interval+c.cws, c.over.chain, c.over.log)
	if c.rep.Anomalies == nil {
		c.rep.Anomalies = []Finding{}
	}
	sort.SliceStable(c.rep.Anomalies, func(i, j int) bool {
		return kindOrder(c.rep.Anomalies[i].Kind) < kindOrder(c.rep.Anomalies[j].Kind)
	})
	switch {
	case len(c.disc) > 0:
		c.rep.Verdict = Fail
	case len(c.a.ops) == 0 && len(c.a.reads) == 0:
		c.rep.Verdict = NotExercised
	case !c.hasOpen || !c.hasClose:
		c.rep.Verdict = Undecided
	default:
		c.rep.Verdict = Pass
	}
}

func kindOrder(k Kind) int {
	for i, x := range Kinds {
		if x == k {
			return i
		}
	}
	return len(Kinds)
}

func (c *acctCheck) addTotals(r *Report) {
	t := &r.Totals
	t.Accounts++
	switch c.rep.Verdict {
	case Pass:
		t.Passed++
	case Fail:
		t.Failed++
	case NotExercised:
		t.NotExercised++
	default:
		t.Undecided++
	}
	if c.hasOpen {
		t.Start += c.b0
	}
	if c.hasClose {
		t.End += c.close.snap.Balance
	}
	t.Confirmed += c.rep.Confirmed
	t.Unresolved += c.rep.Unresolved
	t.UnknownTaken += c.rep.UnknownTaken
	t.Leaked += c.rep.Leaked
	t.Overcharged += c.rep.Overcharged
	t.Counts.add(c.rep.Counts)
	for i := range c.a.ops {
		o := &c.a.ops[i]
		f := r.Features[o.feature]
		if f == nil {
			f = &FeatureTotals{}
			r.Features[o.feature] = f
		}
		f.Ops++
		switch o.state {
		case stCharged:
			f.Confirmed += o.eff
		case stMaybe:
			f.Unresolved += o.eff
		}
	}
	for _, tx := range c.a.log {
		f := r.Features[tx.Feature]
		if f == nil {
			f = &FeatureTotals{}
			r.Features[tx.Feature] = f
		}
		f.Logged += tx.Amount
	}
}
