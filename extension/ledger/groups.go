package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
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
	// skeletons returns, for the accounts of names (all of partition k),
	// new accounts holding what stays in memory, indexed by their id in the
	// partition's spill (nil for the others), and a view of that spill.
	skeletons(k int, names map[string]bool) ([]*account, spillView)
	// ids returns the names of partition k's accounts by their id in its spill.
	ids(k int) []string
	// hasLogs reports whether any account's server log was handed over.
	hasLogs() bool
}

// load reads every record of the accounts in names (all of partition k)
// from s; from split instead of s's spill when the partition was split.
func load(s source, k int, names map[string]bool, split *spillView) (*journalData, error) {
	want, v := s.skeletons(k, names)
	if split != nil {
		v = *split
	}
	d := &journalData{inst: s.header(), accounts: make(map[string]*account, len(names))}
	for _, a := range want {
		if a != nil {
			d.accounts[a.name] = a
		}
	}
	if err := readGroup(v, want); err != nil {
		return nil, err
	}
	for _, a := range d.accounts {
		settleLoaded(a)
	}
	return d, nil
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

// loadGroup reads group gi from every source and puts it on one timeline.
func loadGroup(srcs []source, groups []group, gi int, sp *splitter) (*history, error) {
	g := groups[gi]
	parts := make([]*journalData, 0, len(srcs))
	for si, s := range srcs {
		d, err := load(s, g.part, g.names, sp.view(si, gi))
		if err != nil {
			return nil, err
		}
		parts = append(parts, d)
	}
	return mergeHistory(parts)
}

// splitter copies the records of each partition verified in several
// groups into blocks of one file, every block holding one group's records,
// so that a group is then read without reading its partition's others.
type splitter struct {
	dir   string
	f     *os.File
	size  int64
	err   error                 // the first create or write error: blocks then stay in memory
	views map[[2]int]*spillView // by source and group
}

// view returns the split records of group gi of source si, or nil when
// its partition was not split.
func (sp *splitter) view(si, gi int) *spillView {
	if sp == nil {
		return nil
	}
	return sp.views[[2]int{si, gi}]
}

// splitAll splits every partition that has several groups, in every source.
func (sp *splitter) splitAll(ctx context.Context, srcs []source, groups []group) error {
	for lo := 0; lo < len(groups); {
		hi := lo + 1
		for hi < len(groups) && groups[hi].part == groups[lo].part {
			hi++
		}
		if hi-lo > 1 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			for si, s := range srcs {
				if err := sp.split(si, s, groups, lo, hi); err != nil {
					return fmt.Errorf("verify: %w", err)
				}
			}
		}
		lo = hi
	}
	return nil
}

// split reads the partition of groups[lo:hi] of source si once and writes
// each group's records to blocks of its own.
func (sp *splitter) split(si int, s source, groups []group, lo, hi int) error {
	k := groups[lo].part
	names := s.ids(k)
	owner := make([]int, len(names))
	for id, n := range names {
		owner[id] = -1
		for gi := lo; gi < hi; gi++ {
			if groups[gi].names[n] {
				owner[id] = gi - lo
			}
		}
	}
	bufs := make([][]byte, hi-lo)
	views := make([]*spillView, hi-lo)
	for i := range views {
		views[i] = &spillView{}
	}
	_, v := s.skeletons(k, nil)
	err := v.scanRaw(func(acct uint32, rec []byte) error {
		j := -1
		if int(acct) < len(owner) {
			j = owner[acct]
		}
		if j < 0 {
			return nil
		}
		bufs[j] = append(binary.AppendUvarint(bufs[j], uint64(len(rec))), rec...)
		if len(bufs[j]) >= spillChunk {
			sp.block(views[j], &bufs[j])
		}
		return nil
	})
	if err != nil {
		return err
	}
	if sp.views == nil {
		sp.views = make(map[[2]int]*spillView)
	}
	for j := range views {
		sp.block(views[j], &bufs[j])
		sp.views[[2]int{si, lo + j}] = views[j]
	}
	return nil
}

// block writes buf as a block of v and empties it.
func (sp *splitter) block(v *spillView, buf *[]byte) {
	b := *buf
	if len(b) == 0 {
		return
	}
	if sp.err == nil && sp.f == nil {
		sp.f, sp.err = createUnlinked(sp.dir)
	}
	if sp.err == nil {
		n, err := sp.f.Write(b)
		if n > 0 {
			v.f = sp.f
			v.segs = append(v.segs, spillSeg{sp.size, int64(n)})
			sp.size += int64(n)
		}
		if err != nil {
			sp.err = fmt.Errorf("write split file: %w", err)
		}
		b = b[n:]
	}
	v.tail = append(v.tail, b...)
	*buf = (*buf)[:0]
}

// release closes the split file.
func (sp *splitter) release() {
	if sp.f != nil {
		sp.f.Close()
	}
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

func (s liveSource) skeletons(k int, names map[string]bool) ([]*account, spillView) {
	sh := &s.l.shards[k]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	want := make([]*account, len(sh.spill.names))
	for name := range names {
		a := sh.accounts[name]
		if a == nil {
			continue
		}
		c := skeleton(a)
		sh.spill.presize(c, a.sid, len(a.fly)-len(a.free)+len(a.held))
		for i := range a.fly {
			if a.fly[i].id != 0 {
				c.ops = append(c.ops, a.fly[i])
			}
		}
		c.ops = append(c.ops, a.held...)
		want[a.sid] = c
	}
	return want, sh.spill.view()
}

func (s liveSource) ids(k int) []string {
	sh := &s.l.shards[k]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return slices.Clone(sh.spill.names)
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

func (s *journalStore) skeletons(k int, names map[string]bool) ([]*account, spillView) {
	p := &s.parts[k]
	want := make([]*account, len(p.names))
	for name := range names {
		if a := s.accounts[name]; a != nil {
			c := skeleton(a)
			p.presize(c, a.sid, len(a.ops))
			c.ops = append(c.ops, a.ops...)
			want[a.sid] = c
		}
	}
	return want, p.view()
}

func (s *journalStore) ids(k int) []string { return s.parts[k].names }

// release closes the store's spill files.
func (s *journalStore) release() {
	for i := range s.parts {
		s.parts[i].release()
	}
}
