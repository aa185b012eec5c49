package ledger

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
)

// The deep check runs porcupine per account on the projection of the
// history: the opening snapshot, every deduction that may have taken effect
// (confirmed, refused as insufficient, unknown, or resolved), and the
// closing snapshot; reads and balances seen on refusals are left to the
// fast checks (they make the search explode). Unknown deductions return
// after every definite operation, so "applied last" stands for "never
// applied". A search stops when its time or estimated memory budget runs
// out, or the total budget or ctx does; the account is then unknown.

type pKind uint8

const (
	pOpen pKind = iota
	pDeduct
	pSnap
)

type pStatus uint8

const (
	pOK pStatus = iota
	pInsufficient
	pUnknown
	pValue
)

type pInput struct {
	kind pKind
	amt  int64
}

type pOutput struct {
	st     pStatus
	bal    int64
	hasBal bool
	ver    int64
	hasVer bool
}

type pState struct {
	open     bool
	bal, ver int64
}

// projection builds the porcupine history of an account.
func (c *acctCheck) projection() ([]porcupine.Operation, bool) {
	vers := c.open.snap.HasVersion
	var maxT int64
	for i := range c.a.ops {
		o := &c.a.ops[i]
		if o.state == stCharged && o.out.Kind == OK && !o.out.HasVersion {
			vers = false
		}
		maxT = max(maxT, o.call)
		if o.ret != noReturn {
			maxT = max(maxT, o.ret)
		}
	}
	if c.hasClose {
		maxT = max(maxT, c.close.ret)
	}
	ops := make([]porcupine.Operation, 0, len(c.a.ops)+2)
	ops = append(ops, porcupine.Operation{
		Input: pInput{kind: pOpen}, Call: c.open.call, Return: c.open.ret,
		Output:   pOutput{st: pValue, bal: c.b0, ver: c.open.snap.Version, hasVer: vers},
		Metadata: "open",
	})
	for i := range c.a.ops {
		o := &c.a.ops[i]
		in := pInput{kind: pDeduct, amt: o.eff}
		op := porcupine.Operation{Input: in, Call: o.call, Return: o.ret, Metadata: c.ref(o)}
		switch {
		case o.state == stNone && o.out.Kind == Insufficient && !o.resolved:
			op.Output = pOutput{st: pInsufficient}
		case o.state == stNone:
			continue
		case o.state == stCharged:
			out := pOutput{st: pOK}
			if o.out.Kind == OK && !o.resolved {
				out.bal, out.hasBal = o.out.Balance, o.out.HasBalance
				out.ver, out.hasVer = o.out.Version, o.out.HasVersion && vers
			}
			op.Output = out
			if op.Return == noReturn {
				op.Return = maxT + 1
			}
		default: // maybe: returns after every definite operation
			op.Output = pOutput{st: pUnknown}
			op.Return = maxT + 2
		}
		ops = append(ops, op)
	}
	if c.hasClose {
		ops = append(ops, porcupine.Operation{
			Input: pInput{kind: pSnap}, Call: c.close.call, Return: c.close.ret,
			Output:   pOutput{st: pValue, bal: c.close.snap.Balance, ver: c.close.snap.Version, hasVer: vers && c.close.snap.HasVersion},
			Metadata: "close",
		})
	}
	return ops, vers
}

// model returns the porcupine model of one account. Each successful step
// counts against the memory budget; once aborted is set every step fails,
// which unwinds the search quickly (its result is then discarded).
func model(overdraft bool, aborted *atomic.Bool, stepBudget int64) porcupine.Model {
	var steps atomic.Int64
	return porcupine.Model{
		Init: func() any { return pState{} },
		Step: func(state, input, output any) (bool, any) {
			if aborted.Load() {
				return false, state
			}
			s, in, out := state.(pState), input.(pInput), output.(pOutput)
			ok, next := step(s, in, out, overdraft)
			if ok && steps.Add(1) > stepBudget {
				aborted.Store(true)
				return false, state
			}
			return ok, next
		},
		Hash: func(state any) uint64 {
			s := state.(pState)
			return uint64(s.bal)*0x9e3779b97f4a7c15 ^ uint64(s.ver)
		},
		DescribeOperation: describeOp,
		DescribeState: func(state any) string {
			s := state.(pState)
			if !s.open {
				return "not opened"
			}
			return fmt.Sprintf("%d (v%d)", s.bal, s.ver)
		},
	}
}

func step(s pState, in pInput, out pOutput, overdraft bool) (bool, pState) {
	if in.kind == pOpen {
		if s.open {
			return false, s
		}
		return true, pState{open: true, bal: out.bal, ver: out.ver}
	}
	if !s.open {
		return false, s
	}
	switch in.kind {
	case pSnap:
		return out.bal == s.bal && (!out.hasVer || out.ver == s.ver), s
	case pDeduct:
		enough := overdraft || s.bal >= in.amt
		next := pState{open: true, bal: s.bal - in.amt, ver: s.ver + 1}
		switch out.st {
		case pOK:
			if !enough || out.hasBal && out.bal != next.bal || out.hasVer && out.ver != next.ver {
				return false, s
			}
			return true, next
		case pInsufficient:
			return !enough, s
		case pUnknown:
			if enough {
				return true, next
			}
			return true, s
		}
	}
	return false, s
}

func describeOp(input, output any) string {
	in, out := input.(pInput), output.(pOutput)
	switch in.kind {
	case pOpen:
		return fmt.Sprintf("open → %d", out.bal)
	case pSnap:
		return fmt.Sprintf("close → %d", out.bal)
	}
	switch out.st {
	case pOK:
		if out.hasBal {
			return fmt.Sprintf("deduct(%d) → ok %d", in.amt, out.bal)
		}
		return fmt.Sprintf("deduct(%d) → ok", in.amt)
	case pInsufficient:
		return fmt.Sprintf("deduct(%d) → insufficient", in.amt)
	}
	return fmt.Sprintf("deduct(%d) → unknown", in.amt)
}

// deepCheck runs the deep check over the accounts on a worker pool.
// deadline ends the total budget, shared by every group of a verification.
func deepCheck(ctx context.Context, checks []*acctCheck, opts *VerifyOptions, sum *DeepSummary, deadline time.Time) {
	start := time.Now()
	var jobs []*acctCheck
	for _, c := range checks {
		switch {
		case len(c.a.ops) == 0 && len(c.a.reads) == 0:
			c.rep.Linearizable = LinNotExercised
			sum.NotExercised++
		case !c.hasOpen:
			c.rep.Linearizable = LinSkipped
			sum.Skipped++
		case len(c.a.ops) > opts.MaxOps:
			c.rep.Linearizable = LinSkipped
			c.note("deep check skipped: %d deductions, over the limit of %d", len(c.a.ops), opts.MaxOps)
			sum.Skipped++
		default:
			jobs = append(jobs, c)
		}
	}
	// small accounts first, so that one huge account cannot starve the rest
	sort.SliceStable(jobs, func(i, j int) bool { return len(jobs[i].a.ops) < len(jobs[j].a.ops) })
	ch := make(chan *acctCheck)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := 0; w < opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range ch {
				res, ran := deepOne(ctx, c, opts, deadline)
				mu.Lock()
				switch res {
				case LinOK:
					sum.OK++
				case LinIllegal:
					sum.Illegal++
				default:
					sum.OutOfBudget++
					if !ran {
						sum.NotRun++
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, c := range jobs {
		ch <- c
	}
	close(ch)
	wg.Wait()
	sum.Elapsed += time.Since(start)
}

// deepOne checks one account and records its linearizability; ran is false
// when the total budget was spent before the account's turn (counted in
// DeepSummary.NotRun, not noted per account: a long run can leave thousands).
func deepOne(ctx context.Context, c *acctCheck, opts *VerifyOptions, deadline time.Time) (res Linearizability, ran bool) {
	budget := min(opts.AccountBudget, time.Until(deadline))
	if d, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(d))
	}
	if budget <= 0 || ctx.Err() != nil {
		c.rep.Linearizable = LinOutOfBudget
		return LinOutOfBudget, false
	}
	ops, _ := c.projection()
	n := int64(len(ops))
	// Each successful step may add a cache entry: a clone of the linearized
	// bitset (n bits), the boxed state, the bucket and call-stack slots.
	// Calibrated against the live heap of porcupine v1.3.1 (BenchmarkVerifyDeep).
	perStep := (n/64+1)*8*5/4 + 160
	var aborted atomic.Bool
	m := model(c.overdraft, &aborted, opts.MemoryBudget/perStep)
	timer := time.AfterFunc(budget, func() { aborted.Store(true) })
	stop := context.AfterFunc(ctx, func() { aborted.Store(true) })
	t0 := time.Now()
	ok := porcupine.CheckOperations(m, ops)
	timer.Stop()
	stop()
	switch {
	case ok:
		c.rep.Linearizable = LinOK
	case aborted.Load():
		c.rep.Linearizable = LinOutOfBudget
		c.note("deep check out of budget after %s (%d operations): linearizability unknown", time.Since(t0).Round(time.Millisecond), n)
	default:
		c.rep.Linearizable = LinIllegal
		f := Finding{
			Kind:     KindNotLinearizable,
			Expected: "some order of the deductions, within their call and return times, that explains every confirmed balance",
			Seen:     fmt.Sprintf("none among %d operations", n),
		}
		if opts.VisualizeDir != "" {
			path, err := visualize(c, ops, opts.VisualizeDir, budget)
			if err != nil {
				c.note("deep check visualization: %v", err)
			} else if path != "" {
				f.Detail = "visualization: " + path
			}
		}
		c.add(f, "deep")
	}
	return c.rep.Linearizable, true
}

// visualize reruns the check verbosely and writes porcupine's HTML view.
func visualize(c *acctCheck, ops []porcupine.Operation, dir string, budget time.Duration) (string, error) {
	var aborted atomic.Bool
	m := model(c.overdraft, &aborted, 1<<62)
	lanes(ops)
	res, info := porcupine.CheckOperationsVerbose(m, ops, budget)
	if res != porcupine.Illegal {
		return "", nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, "ledger-"+safeName(c.a.name)+".html")
	if err := porcupine.VisualizePath(m, info, path); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// lanes assigns client ids so that a client's operations do not overlap
// (the visualization draws one row per client).
func lanes(ops []porcupine.Operation) {
	idx := make([]int, len(ops))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ops[idx[a]].Call < ops[idx[b]].Call })
	var ends []int64
	for _, i := range idx {
		lane := -1
		for l, e := range ends {
			if e < ops[i].Call {
				lane = l
				break
			}
		}
		if lane < 0 {
			lane = len(ends)
			ends = append(ends, 0)
		}
		ends[lane] = ops[i].Return
		ops[i].ClientId = lane
	}
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
