// Command ledgerload feeds the ledger core (extension/ledger) the operation stream of a race.js run of
// any length, without HTTP or JS, and reports the process's peak resident memory: it shows whether the
// ledger's memory is bounded by the accounts in flight or grows with the run (docs/benchmarks.md).
//
// The shape is race.js's full profile: -accounts accounts opened at the start, -pool of them raced on at
// a time (one after the other per pool slot, each drained to 0 before the next), bursts of 5 deductions
// with 100 in flight on an account at once (1,000 VUs over 10 accounts), a balance read after half the
// bursts, -rate deductions per second of simulated time, prices as race.js draws them; opening balances
// such that -drained accounts run dry over the run. The teardown is race.js's too: closing snapshots,
// notices, every account's complete server log, then Verify with the deep check (30 s budget).
//
//	go run ./bench/ledgerload -minutes 10     # about 1.8 million deductions
//	go run ./bench/ledgerload -minutes 60     # about 10.8 million
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/tallyhq/tally/extension/ledger"
)

// window is the deductions in flight on one account at once (100 VUs, bursts of 5).
const window = 100

type acct struct {
	name     string
	bal      int64
	low, dep bool  // notices the server sent
	lowAt    int64 // the balance of the low-balance notice
}

type load struct {
	l       *ledger.Ledger
	ctx     context.Context
	now     int64 // simulated clock, ns
	rng     *rand.Rand
	accts   []*acct
	log     *bufio.Writer
	logFile *os.File
	txID    int64
	peakRun int64 // highest RSS while the load ran, KiB
}

func main() {
	minutes := flag.Float64("minutes", 10, "length of the simulated run")
	rate := flag.Float64("rate", 3000, "deductions per second of simulated time")
	accounts := flag.Int("accounts", 1000, "accounts")
	pool := flag.Int("pool", 10, "accounts raced on at a time")
	drained := flag.Int("drained", 600, "accounts that run dry over the run")
	deep := flag.String("deep", "auto", "deep check: auto or off")
	seed := flag.Uint64("seed", 1, "random seed")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the verification to this file")
	flag.Parse()
	mode, err := ledger.ParseDeepMode(*deep)
	if err != nil || *accounts < *pool || *drained < 1 || *drained > *accounts {
		fmt.Fprintln(os.Stderr, "ledgerload: bad flags:", err)
		os.Exit(2)
	}
	ops := int64(*rate * 60 * *minutes)
	s := &load{ctx: context.Background(), rng: rand.New(rand.NewPCG(*seed, 7))}
	s.l, err = ledger.New(ledger.Config{Run: "ledgerload", Clock: func() int64 { return s.now }})
	check(err)
	s.logFile, err = os.CreateTemp("", "ledgerload-log-*")
	check(err)
	os.Remove(s.logFile.Name())
	s.log = bufio.NewWriterSize(s.logFile, 1<<20)

	credits := ops * 33 / 10 / int64(*drained) // race.js draws 3.4 credits on average; some are refused
	t0 := time.Now()
	s.open(*accounts, credits)
	s.run(ops, *pool, 1e9 / *rate)
	tRun := time.Since(t0)
	s.teardown()
	tTear := time.Since(t0) - tRun
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		check(err)
		check(pprof.StartCPUProfile(f))
	}
	r, err := s.l.Verify(s.ctx, ledger.VerifyOptions{Deep: mode, TotalBudget: 30 * time.Second})
	check(err)
	pprof.StopCPUProfile()
	tVerify := time.Since(t0) - tRun - tTear
	ledger.WriteText(os.Stdout, r)
	drainedN := 0
	for _, a := range s.accts {
		if a.bal == 0 {
			drainedN++
		}
	}
	fmt.Printf("\nledgerload: %.0f simulated minutes, %d deductions over %d accounts (%d drained, %d credits each)\n",
		*minutes, ops, *accounts, drainedN, credits)
	fmt.Printf("ledgerload: run %s, teardown %s, verify %s\n", tRun.Round(time.Millisecond), tTear.Round(time.Millisecond), tVerify.Round(time.Millisecond))
	fmt.Printf("ledgerload: peak RSS during the run %d MiB, at the end (VmHWM, verify included) %d MiB\n", s.peakRun/1024, vm("VmHWM")/1024)
	if r.Verdict != ledger.Pass {
		os.Exit(1)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "ledgerload:", err)
		os.Exit(1)
	}
}

// vm returns a /proc/self/status field in KiB (0 where there is none).
func vm(field string) int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func (s *load) open(n int, credits int64) {
	for i := range n {
		a := &acct{name: "acct" + strconv.Itoa(i), bal: credits}
		s.accts = append(s.accts, a)
		s.now++
		check(s.l.Open(s.ctx, a.name, ledger.Snapshot{Balance: credits}))
	}
}

// price draws a charge as race.js does: 60 % deduct of 1-5 units, 20 % ai_search (5), 20 % ai_recommendations (3).
func (s *load) price() (string, int64) {
	switch r := s.rng.Float64(); {
	case r < 0.6:
		return "deduct", 1 + s.rng.Int64N(5)
	case r < 0.8:
		return "ai_search", 5
	}
	return "ai_recommendations", 3
}

// run feeds ops deductions: per pool slot in turn, a window of 100 concurrent deductions on the slot's
// current account, applied by an atomic server in random order, then reads.
func (s *load) run(ops int64, pool int, gapNs float64) {
	gens := len(s.accts) / pool
	gen := make([]int, pool)
	var done int64
	for slot := 0; done < ops; slot = (slot + 1) % pool {
		for gen[slot] < gens-1 && s.accts[gen[slot]*pool+slot].bal == 0 {
			gen[slot]++
		}
		a := s.accts[gen[slot]*pool+slot]
		n := int64(window)
		if ops-done < n {
			n = ops - done
		}
		s.window(a, int(n), gapNs)
		done += n
		if done%(1<<20) < n {
			s.peakRun = max(s.peakRun, vm("VmRSS"))
		}
	}
	s.peakRun = max(s.peakRun, vm("VmRSS"))
}

func (s *load) window(a *acct, n int, gapNs float64) {
	start := s.now
	ops := make([]ledger.Op, n)
	for i := range n {
		f, amt := s.price()
		if i == 0 && a.bal > 0 && a.bal < 50 {
			f, amt = "deduct", a.bal // running low: take what is left
		}
		s.now = start + int64(float64(i)*gapNs)
		op, err := s.l.Begin(s.ctx, a.name, ledger.Deduction{Feature: f, Amount: amt})
		check(err)
		ops[i] = op
	}
	order := s.rng.Perm(n) // the server's order
	for _, i := range order {
		s.now += int64(gapNs)
		op := ops[i]
		var o ledger.Outcome
		if a.bal >= op.Amount {
			a.bal -= op.Amount
			s.txID++
			o = ledger.Outcome{Kind: ledger.OK, Balance: a.bal, HasBalance: true, TxID: "t" + strconv.FormatInt(s.txID, 10)}
			fmt.Fprintf(s.log, "%s %d %s %d %d %s\n", a.name, s.txID, op.Feature, op.Amount, a.bal, op.Key)
			s.notice(a)
		} else {
			o = ledger.Outcome{Kind: ledger.Insufficient, Balance: a.bal, HasBalance: true}
		}
		check(s.l.Settle(s.ctx, op, o))
	}
	for range n / 10 { // a read after half the bursts of 5
		s.now += int64(gapNs)
		rd, err := s.l.BeginRead(s.ctx, a.name)
		check(err)
		s.now++
		check(s.l.SettleRead(s.ctx, rd, ledger.Snapshot{Balance: a.bal}))
	}
}

func (s *load) notice(a *acct) {
	if !a.low && a.bal > 0 && a.bal <= ledger.DefaultLowThreshold {
		a.low, a.lowAt = true, a.bal
	}
	if a.bal == 0 {
		a.dep = true
	}
}

// teardown closes every account, hands over the notices and the server's log.
func (s *load) teardown() {
	s.now += 1e9
	for _, a := range s.accts {
		check(s.l.Close(s.ctx, a.name, ledger.Snapshot{Balance: a.bal}))
		var list []ledger.Notice
		if a.low {
			list = append(list, ledger.Notice{Kind: ledger.NoticeLow, Remaining: a.lowAt, HasRemaining: true})
		}
		if a.dep {
			list = append(list, ledger.Notice{Kind: ledger.NoticeDepleted, Remaining: 0, HasRemaining: true})
		}
		check(s.l.Notifications(s.ctx, a.name, list))
		check(s.l.ServerLog(s.ctx, a.name, nil))
	}
	check(s.log.Flush())
	_, err := s.logFile.Seek(0, 0)
	check(err)
	sc := bufio.NewScanner(bufio.NewReaderSize(s.logFile, 1<<20))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		amt, _ := strconv.ParseInt(f[3], 10, 64)
		after, _ := strconv.ParseInt(f[4], 10, 64)
		tx := ledger.LogTx{ID: "t" + f[1], Feature: f[2], Amount: amt, BalanceAfter: after, HasBalance: true, Key: f[5]}
		check(s.l.ServerLog(s.ctx, f[0], []ledger.LogTx{tx}))
	}
	check(sc.Err())
	runtime.GC()
}
