// Package fault wraps a creditd.Store with deliberate, switchable bugs, so that every integrity check of
// tally can be shown to catch the bug it exists for. Each fault mode is a small Store decorator in its
// own file, beside (never inside) the correct path; all are off unless named in --fault.
//
// A fault list (see Parse) is comma-separated: name[=DURATION][:PROBABILITY]. PROBABILITY in (0, 1]
// (default 1) is the chance that one call takes the faulty path; DURATION tunes the modes that have a
// time in them (lost-update's pause, stale-read's cache age, slow's delay).
package fault

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tallyhq/tally/creditd"
)

// The fault modes.
const (
	LostUpdate      = "lost-update"      // read balance, pause, write the computed value back
	DoubleCharge    = "double-charge"    // a successful request is charged twice
	PhantomCharge   = "phantom-charge"   // charges, then answers 500
	Overdraft       = "overdraft"        // skips the sufficiency check when the account is contended
	StaleRead       = "stale-read"       // balance answered from a cache up to a TTL old
	DuplicateNotify = "duplicate-notify" // threshold notices are not deduplicated
	LostRecord      = "lost-record"      // a deduction commits without its debit record
	Slow            = "slow"             // every request is delayed
)

// Default durations of the modes that take one.
const (
	DefaultLostUpdatePause = 10 * time.Millisecond
	DefaultStaleReadTTL    = 100 * time.Millisecond
	DefaultSlowDelay       = 600 * time.Millisecond
)

// modes lists every mode in wrapping order (innermost first) with its description and default duration
// (0: the mode takes no duration).
var modes = []struct {
	name, doc string
	delay     time.Duration
}{
	{LostRecord, "a deduction commits, then its debit record is deleted", 0},
	{DuplicateNotify, "every deduction that lands in a threshold band records another notice", 0},
	{Overdraft, "the sufficiency check is skipped while another deduction on the account is in flight", 0},
	{LostUpdate, "read the balance, pause, write balance-cost back (read-modify-write race)", DefaultLostUpdatePause},
	{DoubleCharge, "a successful deduction is retried without its idempotency key: charged twice, two records", 0},
	{PhantomCharge, "the deduction commits, then the request answers 500", 0},
	{StaleRead, "the balance endpoint answers from a per-account cache up to DURATION old", DefaultStaleReadTTL},
	{Slow, "every store call (so every request) waits DURATION first", DefaultSlowDelay},
}

// Spec is one parsed fault mode.
type Spec struct {
	Name        string
	Probability float64       // chance that a call takes the faulty path, (0, 1]
	Delay       time.Duration // lost-update pause, stale-read TTL or slow delay; 0 for the others
}

// String formats s the way Parse reads it.
func (s Spec) String() string {
	out := s.Name
	if s.Delay > 0 {
		out += "=" + s.Delay.String()
	}
	if s.Probability < 1 {
		out += ":" + strconv.FormatFloat(s.Probability, 'g', -1, 64)
	}
	return out
}

// Names lists the fault modes with a one-line description each, in wrapping order.
func Names() [][2]string {
	out := make([][2]string, len(modes))
	for i, m := range modes {
		out[i] = [2]string{m.name, m.doc}
	}
	return out
}

// Parse reads a fault list: comma-separated name[=DURATION][:PROBABILITY], e.g.
// "lost-update,slow=300ms:0.1". An empty list or "none" means no faults. Each mode may appear once.
func Parse(list string) ([]Spec, error) {
	list = strings.TrimSpace(list)
	if list == "" || list == "none" {
		return nil, nil
	}
	var specs []Spec
	seen := map[string]bool{}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		s := Spec{Probability: 1}
		rest, prob, hasProb := strings.Cut(item, ":")
		name, delay, hasDelay := strings.Cut(rest, "=")
		s.Name = name
		idx := modeIndex(name)
		if idx < 0 {
			known := make([]string, len(modes))
			for i, m := range modes {
				known[i] = m.name
			}
			sort.Strings(known)
			return nil, fmt.Errorf("fault %q: unknown mode; known modes: %s", item, strings.Join(known, ", "))
		}
		if seen[name] {
			return nil, fmt.Errorf("fault %q: %s is listed twice", item, name)
		}
		seen[name] = true
		if hasProb {
			p, err := strconv.ParseFloat(prob, 64)
			if err != nil || !(p > 0 && p <= 1) {
				return nil, fmt.Errorf("fault %q: probability must be a number in (0, 1], e.g. %s:0.1", item, name)
			}
			s.Probability = p
		}
		s.Delay = modes[idx].delay
		if hasDelay {
			if modes[idx].delay == 0 {
				return nil, fmt.Errorf("fault %q: %s takes no duration", item, name)
			}
			d, err := time.ParseDuration(delay)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("fault %q: duration must be positive, e.g. %s=50ms", item, name)
			}
			s.Delay = d
		}
		specs = append(specs, s)
	}
	return specs, nil
}

func modeIndex(name string) int {
	for i, m := range modes {
		if m.name == name {
			return i
		}
	}
	return -1
}

// Raw is what the faulty paths need from a store beyond creditd.Store: unchecked writes that the
// correct path never makes. creditd/sqlite and creditd/postgres implement it.
type Raw interface {
	// WriteBack overwrites a.UserID's balance columns with a's and records t and notices, unchecked.
	WriteBack(ctx context.Context, a creditd.Account, t creditd.Transaction, notices []creditd.Notice) (creditd.Transaction, error)
	// DeleteTransaction removes one debit record.
	DeleteTransaction(ctx context.Context, userID string, id int64) error
	// AddNotice records n unless its account has a notice with n.DedupKey.
	AddNotice(ctx context.Context, n creditd.Notice) error
}

// Env is what the fault modes take from outside: randomness, time and sleeping. Zero fields get the
// real ones.
type Env struct {
	Rand  func() float64 // uniform in [0, 1)
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

func (e Env) withDefaults() Env {
	if e.Rand == nil {
		e.Rand = rand.Float64
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Sleep == nil {
		e.Sleep = creditd.Sleep
	}
	return e
}

// coin decides whether one call takes the faulty path.
type coin struct {
	p    float64
	rand func() float64
}

func (c coin) flip() bool { return c.p >= 1 || c.rand() < c.p }

// Wrap returns s wrapped in the decorators of specs, innermost first in the order of Names (whatever
// the order of specs). raw must reach the same database as s.
func Wrap(s creditd.Store, raw Raw, specs []Spec, env Env) creditd.Store {
	env = env.withDefaults()
	byName := map[string]Spec{}
	for _, sp := range specs {
		byName[sp.Name] = sp
	}
	for _, m := range modes {
		sp, ok := byName[m.name]
		if !ok {
			continue
		}
		c := coin{p: sp.Probability, rand: env.Rand}
		switch m.name {
		case LostRecord:
			s = &lostRecord{Store: s, raw: raw, coin: c}
		case DuplicateNotify:
			s = &duplicateNotify{Store: s, raw: raw, coin: c}
		case Overdraft:
			s = &overdraft{Store: s, coin: c, inflight: map[string]int{}}
		case LostUpdate:
			s = &lostUpdate{Store: s, raw: raw, coin: c, pause: sp.Delay, sleep: env.Sleep}
		case DoubleCharge:
			s = &doubleCharge{Store: s, coin: c}
		case PhantomCharge:
			s = &phantomCharge{Store: s, coin: c}
		case StaleRead:
			s = &staleRead{Store: s, coin: c, ttl: sp.Delay, now: env.Now, cache: map[string]cached{}}
		case Slow:
			s = &slow{Store: s, coin: c, delay: sp.Delay, sleep: env.Sleep}
		}
	}
	return s
}
