package ledger

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultLowThreshold = 50
	DefaultClockBound   = 5 * time.Millisecond
)

// Config configures a Ledger. The zero value is usable.
type Config struct {
	Run          string        // run id, part of every generated idempotency key; default "run"
	Instance     string        // this process's name among the load generators; default "i0"
	Host         string        // informational, written to the journal header
	LowThreshold int64         // low-balance notice threshold; 0 means DefaultLowThreshold, negative disables the rule
	Overdraft    bool          // negative balances are allowed by the service under test
	ClockBound   time.Duration // this host's clock error bound, used when journals of several hosts are merged; 0 means DefaultClockBound
	Rules        *Rules        // HTTP mapping for SettleHTTP; nil means DefaultRules()
	AmountSign   AmountSign    // how the service's log writes debits; SignAuto detects it at Verify (detectSign)

	// Segment and SegmentSequence are this instance's execution segment and
	// the sequence every instance shares ("" when the run is not split),
	// written to the journal header so a merged verification can tell a
	// missing or duplicated journal.
	Segment         string
	SegmentSequence string

	// Shared says that other processes charge the same accounts (a
	// distributed run on shared accounts): the online checks then keep only
	// what holds whatever the others do (negative balances, a repeated
	// balance), not the bounds from the opening balance.
	Shared bool

	// Journal, when set, receives the journal as NDJSON while the run goes;
	// CloseJournal writes the footer (the caller closes Journal). JournalPath
	// instead makes the Ledger create that file and close it in CloseJournal.
	Journal     io.Writer
	JournalPath string

	// SpillDir is where settled records are spilled until Verify (files
	// unlinked at creation, so none is left behind); "" means os.TempDir().
	SpillDir string

	// Clock returns monotonic nanoseconds; nil means time since New. Wall0
	// is the wall-clock time at which Clock read 0; zero means time.Now() at New.
	Clock func() int64
	Wall0 time.Time

	Observer Observer // receives metric samples; nil drops them
}

const shardCount = 64 // a power of two

// Ledger is the bookkeeping shared by every VU of a process: snapshots,
// deductions with their outcomes, reads, notices and server logs, per
// account. All methods are safe for concurrent use; the hot path (Begin,
// Settle, BeginRead, SettleRead) locks only the account's shard.
type Ledger struct {
	cfg    Config
	rules  Rules
	low    int64
	now    func() int64
	wall0  int64
	prefix string // run:instance:
	nextID atomic.Uint64
	shards [shardCount]shard
	obs    Observer
	zero   sync.Once
	// confirmed holds, per feature, the ledger_credits_confirmed credits
	// emitted so far (*atomic.Int64), so Verify can emit the rest and the
	// metric ends equal to the verdict's confirmed credits.
	confirmed sync.Map
	jw        *journalWriter

	featMu   sync.Mutex                        // serializes additions to features
	features atomic.Pointer[map[string]string] // interned feature names
	jclosed  bool                              // set by CloseJournal while holding every shard lock

	mu     sync.Mutex // guards merged
	merged []*journalStore
}

type shard struct {
	mu       sync.Mutex
	accounts map[string]*account
	jbuf     []byte
	jlines   int
	spill    spillPart // settled records of this shard's accounts (spill.go)
	_        [64]byte  // keep neighbouring shards' locks off one cache line
}

type snapRec struct {
	call, ret int64
	snap      Snapshot
}

type opRec struct {
	id       uint64
	feature  string
	key      string // caller-chosen key; empty when generated (run:instance:id)
	amount   int64
	call     int64
	ret      int64
	okAtCall int64 // credits confirmed on the account when the op began
	out      Outcome
	replayed bool
}

type readRec struct {
	id        uint64
	call, ret int64
	snap      Snapshot
}

// account is one account's bookkeeping. A live account (in a Ledger's
// shard) keeps in memory only what is not settled for good: deductions in
// flight (fly) and those left unknown (held, for SettleReplay); settled
// records go to the shard's spill. Loaded for verification (a group of
// accounts read back from the spill, or a journal's), ops, reads and log
// hold everything.
type account struct {
	name       string
	shard      *shard
	sid        uint32 // index in the shard's spill partition
	open       *snapRec
	close      *snapRec
	ops        []opRec // in id order (loaded), or kept in memory (a journal's unknown and pending)
	reads      []readRec
	fly        []opRec // live: deductions begun, not settled; a free slot has id 0
	free       []int32 // live: free slots of fly
	held       []opRec // live: deductions settled as unknown, kept for SettleReplay
	notices    []Notice
	noticesSet bool
	noticesAt  int64
	log        []LogTx
	logSet     bool
	keys       map[string]struct{} // caller-chosen idempotency keys
	okSum      int64               // credits of confirmed deductions
	maySum     int64               // credits of deductions begun and not known refused
	seenBal    balSet              // balances after confirmed deductions, for the online duplicate check
}

// fill puts rec in a free slot of fly and returns the slot.
func (a *account) fill(rec opRec) int {
	if n := len(a.free); n > 0 {
		i := a.free[n-1]
		a.free = a.free[:n-1]
		a.fly[i] = rec
		return int(i)
	}
	a.fly = append(a.fly, rec)
	return len(a.fly) - 1
}

// keepFly is the number of fly slots an account keeps when none is in use.
const keepFly = 8

// vacate frees slot i of fly. When no deduction is left in flight, slots
// beyond keepFly are let go: an account once raced on by hundreds of VUs
// would otherwise keep that many slots after it is drained, and a long run
// that moves from account to account would grow with every account it
// visited instead of with the deductions in flight.
func (a *account) vacate(i int) {
	a.fly[i] = opRec{}
	a.free = append(a.free, int32(i))
	if len(a.free) == len(a.fly) && cap(a.fly) > keepFly {
		a.fly, a.free = nil, nil
	}
}

// inFlight returns the record of op while it is in flight, else nil.
func (a *account) inFlight(op Op) *opRec {
	if op.idx >= 0 && op.idx < len(a.fly) && a.fly[op.idx].id == op.ID {
		return &a.fly[op.idx]
	}
	return nil
}

// unresolved returns the record of deduction id if it is still in memory
// (in flight, or held with an unknown outcome or resolved by a replay),
// else nil: it was settled and spilled.
func (a *account) unresolved(id uint64) *opRec {
	for i := range a.held {
		if a.held[i].id == id {
			return &a.held[i]
		}
	}
	for i := range a.fly {
		if a.fly[i].id == id {
			return &a.fly[i]
		}
	}
	return nil
}

// Op is the handle of a deduction, returned by Begin and passed to Settle.
// It is a small value; copy it freely.
type Op struct {
	ID      uint64
	Key     string // idempotency key to send with the request
	Account string
	Feature string
	Amount  int64
	acct    *account
	idx     int
}

// Read is the handle of a balance read, returned by BeginRead.
type Read struct {
	ID       uint64
	Account  string
	acct     *account
	call     int64
	okAtCall int64
}

// Deduction describes a deduction about to be requested.
type Deduction struct {
	Feature string
	Amount  int64  // expected price in credits, > 0
	Key     string // idempotency key; empty means generated as run:instance:id
}

// New returns a Ledger. With a journal configured it writes the header line
// at once; call CloseJournal at the end of the run.
func New(cfg Config) (*Ledger, error) {
	l := &Ledger{cfg: cfg, obs: cfg.Observer}
	if l.cfg.Run == "" {
		l.cfg.Run = "run"
	}
	if l.cfg.Instance == "" {
		l.cfg.Instance = "i0"
	}
	if l.cfg.ClockBound == 0 {
		l.cfg.ClockBound = DefaultClockBound
	}
	l.low = cfg.LowThreshold
	if l.low == 0 {
		l.low = DefaultLowThreshold
	}
	l.rules = DefaultRules()
	if cfg.Rules != nil {
		l.rules = *cfg.Rules
	}
	wall := cfg.Wall0
	if wall.IsZero() {
		wall = time.Now()
	}
	l.wall0 = wall.UnixNano()
	l.now = cfg.Clock
	if l.now == nil {
		start := time.Now()
		l.now = func() int64 { return int64(time.Since(start)) }
	}
	l.prefix = l.cfg.Run + ":" + l.cfg.Instance + ":"
	for i := range l.shards {
		l.shards[i].accounts = make(map[string]*account)
		l.shards[i].spill.dir = cfg.SpillDir
	}
	w, closer := cfg.Journal, io.Closer(nil)
	if cfg.JournalPath != "" {
		f, err := os.Create(cfg.JournalPath)
		if err != nil {
			return nil, fmt.Errorf("create journal: %w", err)
		}
		bw := bufio.NewWriterSize(f, 256<<10)
		w, closer = bw, f
	}
	if w != nil {
		l.jw = &journalWriter{w: w, closer: closer}
		l.jw.write(appendHeader(nil, l.header()), 0)
		if err := l.jw.failure(); err != nil {
			if closer != nil {
				closer.Close()
			}
			return nil, err
		}
	}
	return l, nil
}

func (l *Ledger) header() instanceHeader {
	return instanceHeader{
		Run: l.cfg.Run, Inst: l.cfg.Instance, Host: l.cfg.Host, Wall0: l.wall0,
		EpsMs: float64(l.cfg.ClockBound) / float64(time.Millisecond),
		Low:   l.low, Overdraft: l.cfg.Overdraft, Sign: l.cfg.AmountSign,
		Segment: l.cfg.Segment, Sequence: l.cfg.SegmentSequence,
	}
}

// key returns the idempotency key of a deduction.
func (l *Ledger) key(r *opRec) string {
	if r.key != "" {
		return r.key
	}
	var buf [96]byte
	return string(strconv.AppendUint(append(buf[:0], l.prefix...), r.id, 10))
}

// intern returns the ledger's copy of a feature name, so that the records
// do not keep every caller's copy alive. Features are few; the table is
// copied on write and read without a lock.
func (l *Ledger) intern(f string) string {
	if m := l.features.Load(); m != nil {
		if s, ok := (*m)[f]; ok {
			return s
		}
	}
	l.featMu.Lock()
	defer l.featMu.Unlock()
	old := l.features.Load()
	if old != nil {
		if s, ok := (*old)[f]; ok {
			return s
		}
	}
	m := make(map[string]string, 1+lenMap(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	s := strings.Clone(f)
	m[s] = s
	l.features.Store(&m)
	return s
}

func lenMap(m *map[string]string) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// Rules returns the HTTP mapping rules SettleHTTP uses.
func (l *Ledger) Rules() Rules { return l.rules }

func (l *Ledger) emit(ctx context.Context, s Sample) {
	if l.obs != nil {
		l.obs.Observe(ctx, s)
	}
}

// firstUse emits the zero samples once.
func (l *Ledger) firstUse(ctx context.Context) {
	l.zero.Do(func() {
		for _, s := range ZeroSamples() {
			l.emit(ctx, s)
		}
	})
}

// lock locks the shard of name and returns its account, creating it.
func (l *Ledger) lock(name string) *account {
	sh := &l.shards[partOf(name)]
	sh.mu.Lock()
	a := sh.accounts[name]
	if a == nil {
		a = &account{name: name, shard: sh, sid: sh.spill.addAccount(name)}
		sh.accounts[name] = a
	}
	return a
}

func (l *Ledger) flushShard(sh *shard) {
	if len(sh.jbuf) > 0 {
		l.jw.write(sh.jbuf, sh.jlines)
		sh.jbuf, sh.jlines = sh.jbuf[:0], 0
	}
}

// journalOn reports whether lines should be appended; the caller holds a
// shard lock (jclosed is written with every shard lock held).
func (l *Ledger) journalOn() bool { return l.jw != nil && !l.jclosed }

// commit accounts for the line just appended to sh.jbuf and hands the
// buffer to the writer once it is large; the caller holds sh.mu.
func (l *Ledger) commit(sh *shard) {
	sh.jlines++
	if len(sh.jbuf) >= journalChunk {
		l.flushShard(sh)
	}
}

// Open records the account's starting snapshot, taken while the account is
// idle (in setup, before any deduction). An account is opened once.
func (l *Ledger) Open(ctx context.Context, acct string, s Snapshot) error {
	if acct == "" {
		return ErrBadAccount
	}
	l.firstUse(ctx)
	a := l.lock(acct)
	defer a.shard.mu.Unlock()
	if a.open != nil {
		return fmt.Errorf("open %q: %w", acct, ErrAlreadyOpen)
	}
	m := l.now()
	a.open = &snapRec{call: m, ret: m, snap: s}
	if l.journalOn() {
		a.shard.jbuf = appendSnapLine(a.shard.jbuf, "open", acct, m, m, s)
		l.commit(a.shard)
	}
	return nil
}

// Close records the account's final snapshot, taken while the account is
// idle (in teardown, after a settle delay at least the server's request
// deadline). Deductions begun after Close are outside the checked window;
// deductions still in flight count as possibly charged.
func (l *Ledger) Close(ctx context.Context, acct string, s Snapshot) error {
	if acct == "" {
		return ErrBadAccount
	}
	l.firstUse(ctx)
	a := l.lock(acct)
	m := l.now()
	if a.close != nil {
		a.shard.mu.Unlock()
		return fmt.Errorf("close %q: %w", acct, ErrAlreadyClosed)
	}
	a.close = &snapRec{call: m, ret: m, snap: s}
	var v [2]Kind
	n := 0
	if a.open != nil && !l.cfg.Shared {
		n = onlineBounds(&v, l.cfg.Overdraft, s.Balance, a.open.snap.Balance-a.okSum, a.open.snap.Balance-a.maySum, KindLostUpdate)
	}
	if l.journalOn() {
		a.shard.jbuf = appendSnapLine(a.shard.jbuf, "close", acct, m, m, s)
		l.commit(a.shard)
	}
	a.shard.mu.Unlock()
	l.emitViolations(ctx, v[:n])
	return nil
}

// Begin records the start of a deduction and returns its handle. Call it
// right before sending the request: its timestamp must precede the request.
func (l *Ledger) Begin(ctx context.Context, acct string, d Deduction) (Op, error) {
	if acct == "" {
		return Op{}, ErrBadAccount
	}
	if d.Amount <= 0 {
		return Op{}, fmt.Errorf("begin on %q: amount %d: %w", acct, d.Amount, ErrBadAmount)
	}
	l.firstUse(ctx)
	a := l.lock(acct)
	sh := a.shard
	id := l.nextID.Add(1)
	key, custom := d.Key, d.Key != ""
	if !custom {
		var buf [96]byte
		key = string(strconv.AppendUint(append(buf[:0], l.prefix...), id, 10))
	} else {
		if _, dup := a.keys[key]; dup {
			sh.mu.Unlock()
			return Op{}, fmt.Errorf("begin on %q: key %q: %w", acct, key, ErrDuplicateKey)
		}
		if a.keys == nil {
			a.keys = make(map[string]struct{})
		}
		a.keys[key] = struct{}{}
	}
	m := l.now()
	rec := opRec{id: id, feature: l.intern(d.Feature), amount: d.Amount, call: m, okAtCall: a.okSum}
	if custom {
		rec.key = key // a generated key is not kept: it is the prefix and the id
	}
	idx := a.fill(rec)
	a.maySum += d.Amount
	if l.journalOn() {
		sh.jbuf = appendBeginLine(sh.jbuf, id, acct, d.Feature, d.Amount, key, m)
		l.commit(sh)
	}
	sh.mu.Unlock()
	return Op{ID: id, Key: key, Account: a.name, Feature: d.Feature, Amount: d.Amount, acct: a, idx: idx}, nil
}

// Settle records how a deduction ended. Call it right after the response (or
// the failure) arrived. A deduction is settled once; an unknown outcome is
// resolved later with SettleReplay.
func (l *Ledger) Settle(ctx context.Context, op Op, o Outcome) error {
	if op.acct == nil {
		return fmt.Errorf("settle: %w", ErrNoSuchOp)
	}
	if err := o.validate(); err != nil {
		return fmt.Errorf("settle op %d: %w", op.ID, err)
	}
	a := op.acct
	sh := a.shard
	sh.mu.Lock()
	rec := a.inFlight(op)
	if rec == nil || rec.out.Kind != Pending {
		sh.mu.Unlock()
		return fmt.Errorf("settle op %d: %w", op.ID, ErrAlreadySettled)
	}
	rec.ret = l.now()
	rec.out = o
	var v [2]Kind
	n := l.online(a, rec, &v)
	if l.journalOn() {
		sh.jbuf = appendEndLine(sh.jbuf, rec.id, o, false, rec.ret)
		l.commit(sh)
	}
	if o.Kind == Unknown {
		a.held = append(a.held, *rec) // SettleReplay may resolve it
	} else {
		sh.spill.putOp(a.sid, rec)
	}
	a.vacate(op.idx)
	sh.mu.Unlock()
	l.emitOp(ctx, "deduct", o, op.Feature, op.Amount)
	l.emitViolations(ctx, v[:n])
	return nil
}

// SettleHTTP maps an HTTP answer with the configured Rules and settles op
// with the result, which it returns.
func (l *Ledger) SettleHTTP(ctx context.Context, op Op, res HTTPResult) (Outcome, error) {
	o := l.rules.Outcome(res)
	return o, l.Settle(ctx, op, o)
}

// online updates the account's running sums for a settled deduction and
// checks its reported balance against what is already certain; it returns
// the number of violation kinds written to v. The caller holds the shard lock.
func (l *Ledger) online(a *account, rec *opRec, v *[2]Kind) int {
	switch rec.out.Kind {
	case Insufficient, Rejected:
		a.maySum -= rec.amount
		return 0
	case OK:
	default:
		return 0
	}
	charge := rec.out.charge(rec.amount)
	a.okSum += charge
	a.maySum += charge - rec.amount
	if !rec.out.HasBalance {
		return 0
	}
	bal := rec.out.Balance
	n := 0
	if !a.seenBal.add(bal) {
		v[n] = KindLostUpdate
		n++
	}
	if a.open == nil || l.cfg.Shared {
		if bal < 0 && !l.cfg.Overdraft && n < 2 {
			v[n] = KindOverdraft
			n++
		}
		return n
	}
	b0 := a.open.snap.Balance
	var w [2]Kind
	m := onlineBounds(&w, l.cfg.Overdraft, bal, b0-rec.okAtCall-charge, b0-a.maySum, KindLostUpdate)
	for i := 0; i < m && n < 2; i++ {
		if n == 1 && v[0] == w[i] {
			continue
		}
		v[n] = w[i]
		n++
	}
	return n
}

// onlineBounds checks an observed balance against [lo, hi]; above is
// reported as aboveKind.
func onlineBounds(v *[2]Kind, overdraft bool, bal, hi, lo int64, aboveKind Kind) int {
	n := 0
	if bal < 0 && !overdraft {
		v[n] = KindOverdraft
		n++
	}
	if bal > hi {
		v[n] = aboveKind
		n++
	} else if bal < lo && n == 0 {
		v[n] = KindOvercharge
		n++
	}
	return n
}

func (l *Ledger) emitOp(ctx context.Context, kind string, o Outcome, feature string, amount int64) {
	if l.obs == nil {
		return
	}
	l.obs.Observe(ctx, Sample{Metric: MetricOps, Value: 1, Tags: Tags{Kind: kind, Outcome: o.Kind.String(), Feature: feature}})
	if o.Kind == OK {
		l.emitConfirmed(ctx, feature, o.charge(amount))
	}
}

// emitConfirmed emits n confirmed credits of feature and counts them.
func (l *Ledger) emitConfirmed(ctx context.Context, feature string, n int64) {
	v, ok := l.confirmed.Load(feature)
	if !ok {
		v, _ = l.confirmed.LoadOrStore(feature, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(n)
	l.obs.Observe(ctx, Sample{Metric: MetricCreditsConfirmed, Value: float64(n), Tags: Tags{Feature: feature}})
}

func (l *Ledger) emitViolations(ctx context.Context, kinds []Kind) {
	for _, k := range kinds {
		l.emit(ctx, Sample{Metric: MetricOnlineViolations, Value: 1, Tags: Tags{Kind: string(k)}})
	}
}

// BeginRead records the start of a balance read; call it right before the request.
func (l *Ledger) BeginRead(ctx context.Context, acct string) (Read, error) {
	if acct == "" {
		return Read{}, ErrBadAccount
	}
	l.firstUse(ctx)
	a := l.lock(acct)
	rd := Read{ID: l.nextID.Add(1), Account: a.name, acct: a, call: l.now(), okAtCall: a.okSum}
	a.shard.mu.Unlock()
	return rd, nil
}

// SettleRead records what a read returned. A read that failed is simply
// never settled.
func (l *Ledger) SettleRead(ctx context.Context, rd Read, s Snapshot) error {
	if rd.acct == nil {
		return fmt.Errorf("settle read: %w", ErrNoSuchOp)
	}
	a := rd.acct
	sh := a.shard
	sh.mu.Lock()
	m := l.now()
	sh.spill.putRead(a.sid, &readRec{id: rd.ID, call: rd.call, ret: m, snap: s})
	var v [2]Kind
	n := 0
	if a.open != nil && !l.cfg.Shared {
		b0 := a.open.snap.Balance
		n = onlineBounds(&v, l.cfg.Overdraft, s.Balance, b0-rd.okAtCall, b0-a.maySum, KindStaleRead)
	} else if s.Balance < 0 && !l.cfg.Overdraft {
		v[0], n = KindOverdraft, 1
	}
	if l.journalOn() {
		sh.jbuf = appendReadLine(sh.jbuf, rd.ID, a.name, rd.call, m, s)
		l.commit(sh)
	}
	sh.mu.Unlock()
	if l.obs != nil {
		l.obs.Observe(ctx, Sample{Metric: MetricOps, Value: 1, Tags: Tags{Kind: "read", Outcome: "ok"}})
	}
	l.emitViolations(ctx, v[:n])
	return nil
}

// Notifications hands over the notices the server recorded for the account,
// fetched after the settle delay; a later call replaces the list.
func (l *Ledger) Notifications(ctx context.Context, acct string, list []Notice) error {
	if acct == "" {
		return ErrBadAccount
	}
	l.firstUse(ctx)
	a := l.lock(acct)
	defer a.shard.mu.Unlock()
	m := l.now()
	a.notices = append([]Notice(nil), list...)
	a.noticesSet, a.noticesAt = true, m
	if l.journalOn() {
		a.shard.jbuf = appendNoticesLine(a.shard.jbuf, acct, m, list)
		l.commit(a.shard)
	}
	return nil
}

// ServerLog hands over transactions from the server's log for the account
// (a page at a time is fine: transactions seen before, by id, are dropped
// when the log is verified). Hand over the complete log: reconciliation
// treats a deduction whose idempotency key is absent from it as not charged.
func (l *Ledger) ServerLog(ctx context.Context, acct string, txs []LogTx) error {
	if acct == "" {
		return ErrBadAccount
	}
	l.firstUse(ctx)
	a := l.lock(acct)
	sh := a.shard
	defer sh.mu.Unlock()
	m := l.now()
	if !a.logSet {
		a.logSet = true
		if l.journalOn() {
			sh.jbuf = appendLogLine(sh.jbuf, acct, m, nil)
			l.commit(sh)
		}
	}
	for i := range txs {
		sh.spill.putLog(a.sid, &txs[i])
		if l.journalOn() {
			sh.jbuf = appendLogLine(sh.jbuf, acct, m, &txs[i])
			l.commit(sh)
		}
	}
	return nil
}

// CloseJournal flushes the streamed journal, writes its footer and closes
// the file the Ledger created. Bookkeeping goes on in memory afterwards; it
// is just no longer journaled. Without a journal it does nothing.
func (l *Ledger) CloseJournal() error {
	if l.jw == nil {
		return nil
	}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
	}
	for i := range l.shards {
		l.flushShard(&l.shards[i])
	}
	l.jclosed = true
	err := l.jw.close()
	for i := range l.shards {
		l.shards[i].mu.Unlock()
	}
	return err
}
