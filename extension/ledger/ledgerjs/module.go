// Package ledgerjs is the k6/x/ledger JS module: a thin binding of the
// ledger core (github.com/tallyhq/tally/extension/ledger) for test scripts.
//
// One core Ledger serves every VU of a run. It lives in the module root and
// is created on first use (outside the init context) with the settings of
// ledger.configure() or the defaults. Each VU's instance converts JS values
// field by field into the core's types, passes a context that carries the VU
// so that the core's metric samples go to that VU's sample stream with its
// tags, and throws a JS error naming the function and the mistake on bad
// input. The root flushes the journal when the run ends (modules.Closer) and
// adds the last verification, in plain words, to the text summary
// (modules.SummaryWriter). The JS API is documented in extension/README.md.
package ledgerjs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally/extension/ledger"
	"github.com/tallyhq/tally/modules"
)

// ImportPath is the name scripts import the module by.
const ImportPath = "k6/x/ledger"

func init() { modules.Register(ImportPath, func() modules.Module { return New() }) }

// RootModule is the per-run root of k6/x/ledger, shared by every VU of the
// run: the settings, the core Ledger (created on first use) and the last
// verification report. It is safe for concurrent use; the hot path reads
// the Ledger through an atomic pointer and takes no lock of its own.
type RootModule struct {
	led atomic.Pointer[ledger.Ledger]

	mu         sync.Mutex // guards cfg, configured, info and ledger creation
	cfg        settings
	configured bool
	info       runInfo
	opened     sync.Map // account id -> struct{}: accounts opened by this instance
	tokens     sync.Map // account id -> credential (setToken); never journaled or reported

	lastMu sync.Mutex
	last   *ledger.Report

	noBodyWarned atomic.Bool

	// Now, Random and Hostname default to the system's; tests replace them.
	Now      func() time.Time
	Random   io.Reader
	Hostname func() (string, error)
}

// runInfo is what the Ledger was created with, after defaults.
type runInfo struct {
	run, instance, journal string
	settle                 time.Duration
	allowUnopened          bool
	reader                 *outcomeReader // the Ledger's rules, for settleHttp
}

var (
	_ modules.Module          = (*RootModule)(nil)
	_ modules.Closer          = (*RootModule)(nil)
	_ modules.SummaryWriter   = (*RootModule)(nil)
	_ modules.VerdictReporter = (*RootModule)(nil)
	_ ledger.Observer         = (*RootModule)(nil)
)

// New returns a root with the system clock, randomness and host name.
func New() *RootModule {
	return &RootModule{Now: time.Now, Random: rand.Reader, Hostname: os.Hostname}
}

// NewModuleInstance returns the module as one VU sees it, registering the
// ledger's metrics in the run's registry (so thresholds on them validate).
func (m *RootModule) NewModuleInstance(vu modules.VU) modules.Instance {
	return newInstance(m, vu)
}

// Ledger returns the run's core Ledger, or nil before its first use.
func (m *RootModule) Ledger() *ledger.Ledger { return m.led.Load() }

// Close flushes and closes the journal (after teardown, before the summary).
func (m *RootModule) Close() error {
	l := m.led.Load()
	if l == nil {
		return nil
	}
	if err := l.CloseJournal(); err != nil {
		return fmt.Errorf("ledger journal %s: %w", m.info.journal, err)
	}
	return nil
}

// JournalPath returns the journal the run's ledger writes ("" for none).
func (m *RootModule) JournalPath() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.info.journal
}

// SummaryText renders the last verification in plain words; it is empty
// when ledger.verify() was never called.
func (m *RootModule) SummaryText() string { return m.SummaryTextFor(nil) }

// SummaryTextFor is SummaryText followed, when thresholds failed, by the
// line that says whether integrity or something else failed the run
// (ledger.OutcomeLine).
func (m *RootModule) SummaryTextFor(failed []string) string {
	m.lastMu.Lock()
	r := m.last
	m.lastMu.Unlock()
	if r == nil {
		return ""
	}
	var b strings.Builder
	if err := ledger.WriteText(&b, r); err != nil {
		return "ledger: " + err.Error()
	}
	if line := ledger.OutcomeLine(r.Verdict, failed); line != "" {
		b.WriteString("\n" + line + "\n")
	}
	return b.String()
}

// maxVerdictFindings bounds the findings a Verdict lists (the HTML report
// stays small); the others are counted in Omitted.
const maxVerdictFindings = 500

// Verdict returns the last verification for reports: the verdict, its
// figures and every finding per account in plain words (up to
// maxVerdictFindings). It is nil when ledger.verify() was never called.
func (m *RootModule) Verdict() *modules.Verdict {
	r := m.lastReport()
	if r == nil {
		return nil
	}
	v := &modules.Verdict{Title: "ledger", Outcome: string(r.Verdict), Headline: r.Headline(), Figures: r.Figures(),
		Notes: append([]string(nil), r.Notes...)}
	for _, id := range r.AccountIDs() {
		a := r.Accounts[id]
		v.Omitted += a.Omitted
		for i := range a.Anomalies {
			if len(v.Findings) == maxVerdictFindings {
				v.Omitted++
				continue
			}
			f := &a.Anomalies[i]
			v.Findings = append(v.Findings, modules.VerdictFinding{Subject: "account " + id, Kind: string(f.Kind), Text: f.Text()})
		}
		for _, n := range a.Notes {
			v.Notes = append(v.Notes, fmt.Sprintf("account %s: %s", id, n))
		}
	}
	return v
}

func (m *RootModule) setLast(r *ledger.Report) {
	m.lastMu.Lock()
	m.last = r
	m.lastMu.Unlock()
}

func (m *RootModule) lastReport() *ledger.Report {
	m.lastMu.Lock()
	defer m.lastMu.Unlock()
	return m.last
}

// Observe receives the core's samples and hands them to the VU whose
// context the core was given; samples without one are dropped.
func (m *RootModule) Observe(ctx context.Context, s ledger.Sample) {
	if i, ok := ctx.Value(instanceKey{}).(*instance); ok {
		i.pending = append(i.pending, s)
	}
}

// configure records the settings of ledger.configure(). Equal settings may
// be given any number of times (every VU runs the init context); different
// ones, or settings that differ from those the Ledger was created with, are
// an error.
func (m *RootModule) configure(s settings) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.led.Load() != nil && s != m.cfg:
		if !m.configured {
			return fmt.Errorf("the ledger is already in use with the default settings: call configure() in the init context or before the first open()/begin()")
		}
		return fmt.Errorf("the ledger is already in use with other settings (%s): every configure() call must give the same settings", m.cfg.diff(s))
	case m.configured && s != m.cfg:
		return fmt.Errorf("conflicting settings (%s): every configure() call must give the same settings", m.cfg.diff(s))
	}
	m.cfg, m.configured = s, true
	return nil
}

// create makes the Ledger on first use; segment and sequence are the run's
// execution segment and sequence ("" when not segmented).
func (m *RootModule) create(segment, sequence string) (*ledger.Ledger, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.led.Load(); l != nil {
		return l, nil
	}
	s := m.cfg
	info := runInfo{run: s.run, instance: s.instance, settle: s.settle, allowUnopened: s.allowUnopened}
	if info.run == "" {
		id, err := m.runID()
		if err != nil {
			return nil, err
		}
		info.run = id
	}
	if info.instance == "" {
		info.instance = "0"
		if segment != "" {
			info.instance = segment
		}
	}
	host := s.host
	if host == "" && m.Hostname != nil {
		host, _ = m.Hostname()
	}
	if s.journal != "" {
		info.journal = expandPath(s.journal, info.run, info.instance)
	}
	cfg := ledger.Config{
		Run: info.run, Instance: info.instance, Host: host,
		LowThreshold: s.low, Overdraft: s.overdraft, ClockBound: s.clockBound, AmountSign: s.amountSign,
		JournalPath: info.journal, Observer: m,
		Segment: segment, SegmentSequence: sequence, Shared: s.shared,
	}
	if s.hasRules {
		r := s.rules
		cfg.Rules = &r
	}
	l, err := ledger.New(cfg)
	if err != nil {
		return nil, err
	}
	info.reader = newOutcomeReader(l.Rules())
	m.info = info
	m.led.Store(l)
	return l, nil
}

// runID returns a new run id: the UTC start time and 24 random bits, e.g.
// "20250102T150405-a1b2c3".
func (m *RootModule) runID() (string, error) {
	var b [3]byte
	if _, err := io.ReadFull(m.Random, b[:]); err != nil {
		return "", fmt.Errorf("run id: %w", err)
	}
	return m.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:]), nil
}

// expandPath replaces {run} and {instance} in a journal path with file-name
// safe forms of the run id and the instance name.
func expandPath(p, run, inst string) string {
	if !strings.Contains(p, "{") {
		return p
	}
	return strings.NewReplacer("{run}", fileSafe(run), "{instance}", fileSafe(inst)).Replace(p)
}

// fileSafe maps every character outside [A-Za-z0-9._-] to '-'.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, s)
}

// segmentOf returns the run's execution segment as given on the command
// line or in the options, "" when the instance runs the whole test.
func segmentOf(vu modules.VU) (segment, sequence string) {
	st := vu.State()
	if st == nil {
		return "", ""
	}
	return st.Instance.ExecutionSegment, st.Instance.ExecutionSegmentSequence
}
