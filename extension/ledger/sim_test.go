package ledger

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// The simulator: a discrete-event credit server shared by closed-loop
// clients that drive a Ledger through its public API on a fake clock.
// Without a bug the server is atomic (what credit-api.md asks), so every
// history it produces must verify; with a bug injected it misbehaves the
// way a real service would.

type bug uint8

const (
	bugNone          bug = iota
	bugLostUpdate        // a racy read-modify-write path
	bugDoubleCharge      // one request debited twice
	bugPhantomCharge     // debited, then answered 500
	bugOverdraft         // the sufficiency check skipped
	bugStaleRead         // reads served from a lagging replica
	bugDupNotice         // the low-balance notice sent twice
	bugMissingNotice     // the low-balance notice never sent
	bugMissingRecord     // a debit without its transaction record
	bugServerDebit       // a debit nobody requested
	bugPrice             // a feature charged one credit more
)

var bugNames = map[bug]string{
	bugNone: "none", bugLostUpdate: "lost update", bugDoubleCharge: "double charge",
	bugPhantomCharge: "phantom charge", bugOverdraft: "overdraft", bugStaleRead: "stale read",
	bugDupNotice: "duplicate notice", bugMissingNotice: "missing notice", bugMissingRecord: "missing record",
	bugServerDebit: "server-only debit", bugPrice: "price mismatch",
}

type simFeature struct {
	name  string
	price int64
}

var simFeatures = []simFeature{{"ai_search", 5}, {"ai_recommendations", 3}, {"deduct", 1}, {"deduct4", 4}}

type simConfig struct {
	seed        uint64
	accounts    int
	clients     int
	ops         int     // client actions in all
	readFrac    float64 // share of actions that are reads
	unknownFrac float64 // share of deductions whose answer is lost or 5xx
	startFactor float64 // opening balance as a share of the expected spend
	replay      bool    // resolve unknowns by replaying with the same key
	log         bool    // hand over the server log
	notices     bool    // hand over notices
	versions    bool    // the server reports versions
	flags       bool    // snapshots report the notification flags
	used        bool    // snapshots report used credits
	bug         bug
	bugRate     float64 // chance per eligible event
	dropBalance float64 // share of ok answers whose body could not be read (no balance, version, charge)
	journal     *journalSink
	spillDir    string
}

type journalSink struct{ buf []byte }

func (j *journalSink) Write(p []byte) (int, error) { j.buf = append(j.buf, p...); return len(p), nil }

type simAcct struct {
	name           string
	bal, used, ver int64
	lowN, depN     bool
	notices        []Notice
	log            []LogTx
	applied        map[string]simResp // idempotency: key → first answer
	hist           []struct{ t, bal int64 }
	b0             int64
	lowSentTwice   bool
}

type simResp struct {
	status int
	bal    int64
	ver    int64
	tx     string
	charge int64
}

type event struct {
	t   int64
	seq int
	fn  func()
}

type eventQ []event

func (q eventQ) Len() int { return len(q) }
func (q eventQ) Less(i, j int) bool {
	if q[i].t != q[j].t {
		return q[i].t < q[j].t
	}
	return q[i].seq < q[j].seq
}
func (q eventQ) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQ) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQ) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type sim struct {
	cfg    simConfig
	rng    *rand.Rand
	now    int64
	seq    int
	q      eventQ
	l      *Ledger
	accts  []*simAcct
	txSeq  int
	fired  int   // how many times the bug actually fired
	leaked int64 // credits a lost update erased
	ctx    context.Context
}

const ms = int64(1e6)

func (s *sim) at(t int64, fn func()) {
	s.seq++
	heap.Push(&s.q, event{t, s.seq, fn})
}

func (s *sim) between(lo, hi int64) int64 { return lo + s.rng.Int64N(hi-lo+1) }

func (s *sim) chance(p float64) bool { return p > 0 && s.rng.Float64() < p }

// runSim builds a history with the simulator and returns the Ledger holding it.
func runSim(tb testing.TB, cfg simConfig) *sim {
	tb.Helper()
	s := &sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.seed, cfg.seed*7919+1)), ctx: context.Background()}
	lc := Config{Run: "sim", Instance: "i0", Clock: func() int64 { return s.now }, SpillDir: cfg.spillDir}
	if cfg.journal != nil {
		lc.Journal = cfg.journal
	}
	l, err := New(lc)
	if err != nil {
		tb.Fatal(err)
	}
	s.l = l
	deducts := float64(cfg.ops) * (1 - cfg.readFrac)
	perAcct := deducts / float64(cfg.accounts) * 3.25 // mean price
	for i := range cfg.accounts {
		f := cfg.startFactor * (0.7 + 0.6*s.rng.Float64())
		b0 := int64(perAcct * f)
		a := &simAcct{name: "u" + strconv.Itoa(i), bal: b0, b0: b0, applied: make(map[string]simResp)}
		if cfg.used {
			a.used = 1000
		}
		a.hist = append(a.hist, struct{ t, bal int64 }{0, b0})
		s.accts = append(s.accts, a)
		if err := l.Open(s.ctx, a.name, s.snap(a)); err != nil {
			tb.Fatal(err)
		}
	}
	s.now = 1
	left := cfg.ops
	for c := range cfg.clients {
		var loop func()
		loop = func() {
			if left == 0 {
				return
			}
			left--
			s.action(tb, loop)
		}
		s.at(1+int64(c)*ms/10, loop)
	}
	if cfg.bug == bugServerDebit {
		for range 3 {
			s.at(s.between(ms, 50*ms), func() {
				a := s.accts[s.rng.IntN(len(s.accts))]
				if a.bal >= 7 {
					s.debit(a, 7, "job", "")
					s.fired++
				}
			})
		}
	}
	for s.q.Len() > 0 {
		e := heap.Pop(&s.q).(event)
		s.now = e.t
		e.fn()
	}
	s.finish(tb)
	return s
}

func (s *sim) snap(a *simAcct) Snapshot {
	sn := Snapshot{Balance: a.bal}
	if s.cfg.used {
		sn.Used, sn.HasUsed = a.used, true
	}
	if s.cfg.versions {
		sn.Version, sn.HasVersion = a.ver, true
	}
	if s.cfg.flags {
		sn.LowNotified, sn.DepletedNotified, sn.HasFlags = a.lowN, a.depN, true
	}
	return sn
}

// action runs one client action (a deduction or a read), then calls next
// after a think time.
func (s *sim) action(tb testing.TB, next func()) {
	a := s.accts[s.rng.IntN(len(s.accts))]
	d1, d2 := s.between(ms, 20*ms), s.between(ms, 20*ms)
	think := s.between(0, 5*ms)
	if s.chance(s.cfg.readFrac) {
		rd, err := s.l.BeginRead(s.ctx, a.name)
		if err != nil {
			tb.Fatal(err)
		}
		s.at(s.now+d1, func() {
			sn := s.snap(a)
			if s.cfg.bug == bugStaleRead && s.chance(s.cfg.bugRate) {
				if old := s.balanceAt(a, s.now-30*ms); old != sn.Balance {
					sn.Balance = old
					sn.HasUsed = false
					s.fired++
				}
			}
			s.at(s.now+d2, func() {
				if err := s.l.SettleRead(s.ctx, rd, sn); err != nil {
					tb.Fatal(err)
				}
				s.at(s.now+think, next)
			})
		})
		return
	}
	f := simFeatures[s.rng.IntN(len(simFeatures))]
	op, err := s.l.Begin(s.ctx, a.name, Deduction{Feature: f.name, Amount: f.price})
	if err != nil {
		tb.Fatal(err)
	}
	settle := func(o Outcome) {
		if err := s.l.Settle(s.ctx, op, o); err != nil {
			tb.Fatal(err)
		}
		s.at(s.now+think, next)
	}
	if s.chance(s.cfg.unknownFrac) {
		timeout := 60 * ms
		switch s.rng.IntN(5) {
		case 0: // lost before the server
			s.at(s.now+timeout, func() { settle(Outcome{Kind: Unknown, Cause: CauseTimeout}) })
		case 1: // applied, answer lost
			s.at(s.now+d1, func() { s.deduct(a, f, op.Key) })
			s.at(s.now+timeout, func() { settle(Outcome{Kind: Unknown, Cause: CauseTimeout}) })
		case 2: // applied after the client gave up
			s.at(s.now+timeout+s.between(ms, 30*ms), func() { s.deduct(a, f, op.Key) })
			s.at(s.now+timeout, func() { settle(Outcome{Kind: Unknown, Cause: CauseTimeout}) })
		case 3: // connection reset after the server applied it
			s.at(s.now+d1, func() { s.deduct(a, f, op.Key) })
			s.at(s.now+d1+d2, func() { settle(Outcome{Kind: Unknown, Cause: CauseError}) })
		default: // 500 without applying
			s.at(s.now+d1+d2, func() { settle(Outcome{Kind: Unknown, Cause: CauseError, Status: 500}) })
		}
		return
	}
	s.at(s.now+d1, func() {
		s.deductThen(a, f, op.Key, d2, func(r simResp) { settle(s.outcome(r)) })
	})
}

func (s *sim) outcome(r simResp) Outcome {
	switch r.status {
	case 200:
		if s.chance(s.cfg.dropBalance) {
			return Outcome{Kind: OK, Status: 200}
		}
		o := Outcome{Kind: OK, Balance: r.bal, HasBalance: true, TxID: r.tx, Charged: r.charge, HasCharged: true}
		if s.cfg.versions {
			o.Version, o.HasVersion = r.ver, true
		}
		return o
	case 402:
		return Outcome{Kind: Insufficient, Balance: r.bal, HasBalance: true}
	}
	return Outcome{Kind: Unknown, Cause: CauseError, Status: r.status}
}

// deductThen applies a deduction at the server and delivers the answer d2 later.
func (s *sim) deductThen(a *simAcct, f simFeature, key string, d2 int64, reply func(simResp)) {
	if s.cfg.bug == bugLostUpdate && s.chance(s.cfg.bugRate) && a.bal >= f.price {
		// racy path: read now, write later, overwriting what happened in between
		readBal, readVer := a.bal, a.ver
		s.at(s.now+s.between(2*ms, 10*ms), func() {
			if a.bal != readBal {
				s.fired++
				s.leaked += readBal - a.bal
			}
			a.bal, a.ver = readBal-f.price, readVer+1
			a.used += f.price
			r := s.record(a, f.price, f.name, key)
			a.applied[key] = r
			s.at(s.now+d2, func() { reply(r) })
		})
		return
	}
	r := s.deduct(a, f, key)
	s.at(s.now+d2, func() { reply(r) })
}

// deduct is the atomic server path (plus the injected bugs).
func (s *sim) deduct(a *simAcct, f simFeature, key string) simResp {
	if r, ok := a.applied[key]; ok {
		return r
	}
	price := f.price
	if s.cfg.bug == bugPrice && f.name == "ai_search" {
		price++
		s.fired++
	}
	if a.bal < price {
		if s.cfg.bug == bugOverdraft && s.chance(s.cfg.bugRate) {
			s.fired++
		} else {
			return simResp{status: 402, bal: a.bal}
		}
	}
	r := s.debit(a, price, f.name, key)
	switch {
	case s.cfg.bug == bugDoubleCharge && s.chance(s.cfg.bugRate) && a.bal >= price:
		r = s.debit(a, price, f.name, key)
		r.charge = price
		s.fired++
	case s.cfg.bug == bugPhantomCharge && s.chance(s.cfg.bugRate):
		r.status = 500
		s.fired++
	}
	a.applied[key] = r
	return r
}

// debit takes credits atomically, records the transaction and the notices.
func (s *sim) debit(a *simAcct, amount int64, feature, key string) simResp {
	a.bal -= amount
	a.used += amount
	a.ver++
	return s.record(a, amount, feature, key)
}

func (s *sim) record(a *simAcct, amount int64, feature, key string) simResp {
	s.txSeq++
	tx := "t" + strconv.Itoa(s.txSeq)
	if !(s.cfg.bug == bugMissingRecord && s.chance(s.cfg.bugRate)) {
		a.log = append(a.log, LogTx{ID: tx, Feature: feature, Amount: amount, BalanceAfter: a.bal, HasBalance: true, Key: key})
	} else {
		s.fired++
	}
	a.hist = append(a.hist, struct{ t, bal int64 }{s.now, a.bal})
	low := int64(DefaultLowThreshold)
	if a.bal > 0 && a.bal <= low && !a.lowN {
		if s.cfg.bug != bugMissingNotice {
			a.lowN = true
			a.notices = append(a.notices, Notice{Kind: NoticeLow, Remaining: a.bal, HasRemaining: true})
		} else {
			s.fired++
		}
	} else if a.bal > 0 && a.bal <= low && s.cfg.bug == bugDupNotice && !a.lowSentTwice {
		a.lowSentTwice = true
		a.notices = append(a.notices, Notice{Kind: NoticeLow, Remaining: a.bal, HasRemaining: true})
		s.fired++
	}
	if a.bal == 0 && !a.depN {
		a.depN = true
		a.notices = append(a.notices, Notice{Kind: NoticeDepleted, Remaining: 0, HasRemaining: true})
	}
	return simResp{status: 200, bal: a.bal, ver: a.ver, tx: tx, charge: amount}
}

func (s *sim) balanceAt(a *simAcct, t int64) int64 {
	v := a.hist[0].bal
	for _, h := range a.hist {
		if h.t > t {
			break
		}
		v = h.bal
	}
	return v
}

// finish waits out the settle delay, replays unknowns, and takes the
// closing snapshots, notices and logs.
func (s *sim) finish(tb testing.TB) {
	s.now += 500 * ms
	if s.cfg.replay {
		byName := make(map[string]*simAcct)
		for _, a := range s.accts {
			byName[a.name] = a
		}
		for _, op := range s.l.Unknowns() {
			a := byName[op.Account]
			var f simFeature
			for _, x := range simFeatures {
				if x.name == op.Feature {
					f = x
				}
			}
			s.now += ms
			r := s.deduct(a, f, op.Key)
			s.now += ms
			if err := s.l.SettleReplay(s.ctx, op, s.outcome(r)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	s.now += ms
	for _, a := range s.accts {
		if err := s.l.Close(s.ctx, a.name, s.snap(a)); err != nil {
			tb.Fatal(err)
		}
		if s.cfg.notices {
			if err := s.l.Notifications(s.ctx, a.name, a.notices); err != nil {
				tb.Fatal(err)
			}
		}
		if s.cfg.log {
			if err := s.l.ServerLog(s.ctx, a.name, a.log); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if s.cfg.journal != nil {
		if err := s.l.CloseJournal(); err != nil {
			tb.Fatal(err)
		}
	}
}

func (c simConfig) String() string {
	return fmt.Sprintf("seed=%d accounts=%d clients=%d ops=%d unknown=%.3f start=%.2f replay=%v log=%v versions=%v bug=%s",
		c.seed, c.accounts, c.clients, c.ops, c.unknownFrac, c.startFactor, c.replay, c.log, c.versions, bugNames[c.bug])
}
