package ledger

import (
	"slices"
	"sort"
)

// Verification reads the bookkeeping back a group of accounts at a time:
// the accounts of one partition, packed into groups of at most
// groupRecords records (an account larger than that is a group of its
// own), so that memory is bounded by the largest group, not by the run.

// DefaultGroupRecords is the number of records (deductions, reads, log
// transactions) verified together, about 1.4 KB each at the peak.
const DefaultGroupRecords = 32 << 10

// source is one instance's bookkeeping as verification reads it: this
// process's Ledger, or a journal.
type source interface {
	header() instance
	// census adds the records of each account of partition k to into.
	census(k int, into map[string]int64)
	// load reads every record of the accounts in names (all of partition k).
	load(k int, names map[string]bool) (*journalData, error)
	// hasLogs reports whether any account's server log was handed over.
	hasLogs() bool
}

// group is a set of accounts of one partition, verified together.
type group struct {
	part  int
	names map[string]bool
}

// planGroups packs the accounts of every partition into groups of at most
// limit records, in name order.
func planGroups(srcs []source, limit int64) []group {
	var out []group
	for k := range shardCount {
		counts := make(map[string]int64)
		for _, s := range srcs {
			s.census(k, counts)
		}
		names := make([]string, 0, len(counts))
		for n := range counts {
			names = append(names, n)
		}
		sort.Strings(names)
		var cur group
		var size int64
		for _, n := range names {
			if len(cur.names) > 0 && size+counts[n] > limit {
				out = append(out, cur)
				cur, size = group{}, 0
			}
			if cur.names == nil {
				cur = group{part: k, names: make(map[string]bool)}
			}
			cur.names[n] = true
			size += counts[n]
		}
		if len(cur.names) > 0 {
			out = append(out, cur)
		}
	}
	return out
}

// loadGroup reads a group from every source and puts it on one timeline.
func loadGroup(srcs []source, g group) (*history, error) {
	parts := make([]*journalData, 0, len(srcs))
	for _, s := range srcs {
		d, err := s.load(g.part, g.names)
		if err != nil {
			return nil, err
		}
		parts = append(parts, d)
	}
	return mergeHistory(parts)
}

// skeleton copies what an account keeps in memory into a new account that
// the spilled records are then added to.
func skeleton(a *account) *account {
	return &account{
		name: a.name, open: a.open, close: a.close,
		notices: a.notices, noticesSet: a.noticesSet, noticesAt: a.noticesAt,
		logSet: a.logSet,
	}
}

// readGroup adds the spilled records of the accounts in want (indexed by
// their id in the partition) to them; names interns feature names.
func readGroup(v spillView, want []*account) error {
	features := make(map[string]string)
	intern := func(b []byte) string {
		if s, ok := features[string(b)]; ok {
			return s
		}
		s := string(b)
		features[s] = s
		return s
	}
	return v.scan(func(id uint32) bool { return int(id) < len(want) && want[id] != nil },
		func(tag byte, id uint32, d *decoder) error {
			a := want[id]
			switch tag {
			case recOp:
				a.ops = append(a.ops, d.op(intern))
			case recRead:
				a.reads = append(a.reads, d.read())
			case recLog:
				a.log = append(a.log, d.logTx(intern))
			default:
				return errCorrupt
			}
			return nil
		})
}

// settleLoaded puts a loaded account in the order the checks expect:
// deductions by id, and each server-log transaction once (the first copy
// of an id handed over twice).
func settleLoaded(a *account) {
	if !slices.IsSortedFunc(a.ops, cmpOpID) {
		slices.SortFunc(a.ops, cmpOpID)
	}
	if len(a.log) > 1 {
		a.log = dedupeLog(a.log)
	}
}

func cmpOpID(x, y opRec) int {
	switch {
	case x.id < y.id:
		return -1
	case x.id > y.id:
		return 1
	}
	return 0
}

// liveSource reads a Ledger's bookkeeping: what its accounts keep in
// memory and what their shards spilled.
type liveSource struct{ l *Ledger }

func (s liveSource) header() instance { return s.l.instance() }

func (s liveSource) census(k int, into map[string]int64) {
	sh := &s.l.shards[k]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for name, a := range sh.accounts {
		into[name] += sh.spill.counts[a.sid] + int64(len(a.fly)-len(a.free)+len(a.held))
	}
}

func (s liveSource) hasLogs() bool {
	for i := range s.l.shards {
		sh := &s.l.shards[i]
		sh.mu.Lock()
		n := sh.spill.logs
		sh.mu.Unlock()
		if n > 0 {
			return true
		}
	}
	return false
}

func (s liveSource) load(k int, names map[string]bool) (*journalData, error) {
	d := &journalData{inst: s.header(), accounts: make(map[string]*account, len(names))}
	sh := &s.l.shards[k]
	sh.mu.Lock()
	v := sh.spill.view()
	want := make([]*account, len(sh.spill.names))
	for name := range names {
		a := sh.accounts[name]
		if a == nil {
			continue
		}
		c := skeleton(a)
		for i := range a.fly {
			if a.fly[i].id != 0 {
				c.ops = append(c.ops, a.fly[i])
			}
		}
		c.ops = append(c.ops, a.held...)
		want[a.sid] = c
		d.accounts[name] = c
	}
	sh.mu.Unlock()
	if err := readGroup(v, want); err != nil {
		return nil, err
	}
	for _, a := range d.accounts {
		settleLoaded(a)
	}
	return d, nil
}

// instance describes this Ledger as a part of a history.
func (l *Ledger) instance() instance {
	return instance{
		name: l.cfg.Instance, run: l.cfg.Run, host: l.cfg.Host, wall0: l.wall0,
		eps: int64(l.cfg.ClockBound), low: l.low, overdraft: l.cfg.Overdraft, sign: l.cfg.AmountSign, footer: true,
		segment: l.cfg.Segment, sequence: l.cfg.SegmentSequence,
		keyPrefix: l.prefix,
	}
}

// journalStore is a journal read for verification: per account what is
// small (snapshots, notices, whether the log was handed over, deductions
// whose outcome is unknown or never came), the rest spilled by partition.
type journalStore struct {
	inst     instance
	notes    []string
	accounts map[string]*account
	parts    [shardCount]spillPart
}

func newJournalStore(dir string) *journalStore {
	s := &journalStore{accounts: make(map[string]*account)}
	for i := range s.parts {
		s.parts[i].dir = dir
	}
	return s
}

// account returns the account's in-memory part, creating it.
func (s *journalStore) account(name string) *account {
	a := s.accounts[name]
	if a == nil {
		p := &s.parts[partOf(name)]
		a = &account{name: name, sid: p.accountID(name)}
		s.accounts[name] = a
	}
	return a
}

func (s *journalStore) header() instance { return s.inst }

func (s *journalStore) census(k int, into map[string]int64) {
	p := &s.parts[k]
	for id, name := range p.names {
		into[name] += p.counts[id] + int64(len(s.accounts[name].ops))
	}
}

func (s *journalStore) hasLogs() bool {
	for i := range s.parts {
		if s.parts[i].logs > 0 {
			return true
		}
	}
	return false
}

func (s *journalStore) load(k int, names map[string]bool) (*journalData, error) {
	d := &journalData{inst: s.inst, accounts: make(map[string]*account, len(names))}
	p := &s.parts[k]
	want := make([]*account, len(p.names))
	for name := range names {
		a := s.accounts[name]
		if a == nil {
			continue
		}
		c := skeleton(a)
		c.ops = slices.Clone(a.ops)
		want[a.sid] = c
		d.accounts[name] = c
	}
	if err := readGroup(p.view(), want); err != nil {
		return nil, err
	}
	for _, a := range d.accounts {
		settleLoaded(a)
	}
	return d, nil
}

// release closes the store's spill files.
func (s *journalStore) release() {
	for i := range s.parts {
		s.parts[i].release()
	}
}
