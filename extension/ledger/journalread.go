package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
)

// JournalError is a journal that cannot be read: which file, which line
// (1-based; 0 when not about a line) and what is wrong with it.
type JournalError struct {
	Path string
	Line int
	Err  error
}

// Error names the file and, when known, the line.
func (e *JournalError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("journal %s line %d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("journal %s: %v", e.Path, e.Err)
}

// Unwrap returns the cause, which wraps ErrBadJournal for format errors.
func (e *JournalError) Unwrap() error { return e.Err }

// jline is any journal line: the union of every record type's fields,
// with the short JSON names the journal uses (journal.go documents the
// format) and descriptive Go names.
type jline struct {
	Type string `json:"t"` // hdr, ftr, open, close, beg, end, rd, notif, log

	// header
	Format     int     `json:"v"` // JournalVersion
	Run        string  `json:"run"`
	Instance   string  `json:"inst"`
	Host       string  `json:"host"`
	Wall0      int64   `json:"wall0"`
	ClockBound float64 `json:"epsMs"` // milliseconds
	Low        *int64  `json:"low"`
	Overdraft  bool    `json:"overdraft"`
	Sign       string  `json:"sign"` // AmountSign; absent: auto
	Segment    string  `json:"seg"`  // execution segment
	Sequence   string  `json:"seq"`  // execution segment sequence

	// footer
	Lines *int64 `json:"lines"`

	// events
	ID               json.RawMessage `json:"id"`
	Account          string          `json:"a"`
	Mono             *int64          `json:"m"`  // monotonic time of the event (the return, for calls)
	Mono0            *int64          `json:"m0"` // monotonic time of the call
	Balance          *int64          `json:"bal"`
	Used             *int64          `json:"used"`
	Version          *int64          `json:"ver"`
	LowNotified      *bool           `json:"lowN"`
	DepletedNotified *bool           `json:"depN"`
	Feature          string          `json:"f"`
	Amount           *int64          `json:"amt"`
	Key              string          `json:"key"`
	Outcome          string          `json:"o"`
	TxID             string          `json:"tx"`
	Charged          *int64          `json:"chg"`
	Status           int             `json:"st"`
	Cause            string          `json:"c"`
	Replay           int             `json:"rp"`
	At               string          `json:"at"`
	Notices          []struct {
		Kind    string `json:"k"`
		Balance *int64 `json:"bal"`
		At      string `json:"at"`
	} `json:"list"`
}

// jop is a deduction of a journal being read that is not settled for
// good: in flight until its end line, or kept to the end of the journal
// because its outcome is unknown or a replay line touched it.
type jop struct {
	acct   string
	rec    opRec
	end    *jend // the plain end
	replay *jend // the replay that resolved it
}

type jend struct {
	out Outcome
	m   int64
}

// journalReader streams one journal into a journalStore: a deduction
// settled for good (an ok, insufficient or rejected end line, no replay)
// is spilled as soon as its end is read, so memory holds only what is in
// flight, unknown or replayed.
type journalReader struct {
	ctx     context.Context
	path    string
	st      *journalStore
	open    map[uint64]*jop // deductions begun and not spilled
	early   map[uint64]*jop // end or replay lines read before their begin line
	begun   idSet
	ended   idSet // ids with a plain end line
	ignored int   // replay lines of deductions already settled for good
	footer  *int64
	ftrLine int // the footer's line number
	events  int64
	gotHdr  bool
}

func (r *journalReader) fail(line int, format string, args ...any) error {
	return &JournalError{Path: r.path, Line: line, Err: fmt.Errorf(format+": %w", append(args, ErrBadJournal)...)}
}

func (r *journalReader) account(name string) *account { return r.st.account(name) }

// readJournal parses one journal into a store whose spill files are
// created in dir ("" for os.TempDir()); release the store when done. A
// last line without its newline that does not parse (a write torn by a
// crash) is dropped with a note; any other bad line is an error. It stops
// when ctx is done.
func readJournal(ctx context.Context, rd io.Reader, path, dir string) (*journalStore, error) {
	r := &journalReader{ctx: ctx, path: path, st: newJournalStore(dir), open: make(map[uint64]*jop), early: make(map[uint64]*jop)}
	if err := r.read(rd); err != nil {
		r.st.release()
		return nil, err
	}
	if !r.gotHdr {
		r.st.release()
		return nil, r.fail(0, "empty: no header line")
	}
	r.finish()
	return r.st, nil
}

// read reads every line of rd.
func (r *journalReader) read(rd io.Reader) error {
	br := bufio.NewReaderSize(rd, 256<<10)
	lineNo := 0
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			lineNo++
			if lineNo%4096 == 0 && r.ctx.Err() != nil {
				return &JournalError{Path: r.path, Err: fmt.Errorf("read stopped at line %d: %w", lineNo, r.ctx.Err())}
			}
			complete := line[len(line)-1] == '\n'
			body := bytes.TrimSpace(line)
			if len(body) > 0 {
				if perr := r.line(lineNo, body); perr != nil {
					if !complete && r.gotHdr { // a write torn by a crash: only the last line can lack its newline
						r.st.notes = append(r.st.notes, fmt.Sprintf("journal %s: dropped a torn last line (%d)", r.path, lineNo))
						return nil
					}
					return perr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &JournalError{Path: r.path, Err: fmt.Errorf("read: %w", err)}
		}
	}
}

// line parses journal line n: the header first, then events up to the
// footer. What a writer never produces is refused: a line after the footer
// or a second header (a journal appended to or concatenated), a call that
// returns before it starts, an operation id of 0, a deduction of zero or
// fewer credits, an operation ended twice, an invalid outcome.
func (r *journalReader) line(n int, b []byte) error {
	var l jline
	if err := json.Unmarshal(b, &l); err != nil {
		return r.fail(n, "not a JSON object (%v)", err)
	}
	switch {
	case !r.gotHdr:
		return r.header(n, &l)
	case r.footer != nil:
		if l.Type == "hdr" {
			return r.fail(n, "a second header after the footer (line %d): two journals were concatenated into one file; pass each journal as its own argument", r.ftrLine)
		}
		return r.fail(n, "a %q line after the footer (line %d): a writer never writes after its footer, the file was appended to", l.Type, r.ftrLine)
	case l.Type == "hdr":
		return r.fail(n, "a second header (the first is line 1): two journals were concatenated into one file; pass each journal as its own argument")
	case l.Type == "ftr":
		if l.Lines == nil {
			return r.fail(n, "footer without lines")
		}
		if *l.Lines < 0 {
			return r.fail(n, "footer counts %d lines", *l.Lines)
		}
		r.footer, r.ftrLine = l.Lines, n
		return nil
	}
	r.events++
	if l.Mono == nil {
		return r.fail(n, "%s line without m", l.Type)
	}
	if l.Mono0 != nil && *l.Mono0 > *l.Mono {
		return r.fail(n, "%s line that returns before it is called (m0 %d > m %d)", l.Type, *l.Mono0, *l.Mono)
	}
	switch l.Type {
	case "open", "close":
		return r.snapshotLine(n, &l)
	case "beg":
		return r.beginLine(n, &l)
	case "end":
		return r.endLine(n, &l)
	case "rd":
		return r.readLine(n, &l)
	case "notif":
		return r.noticesLine(n, &l)
	case "log":
		return r.logLine(n, &l)
	}
	return r.fail(n, "unknown line type %q", l.Type)
}

// need fails line n when a required field is absent.
func (r *journalReader) need(n int, l *jline, fields ...fieldCheck) error {
	var errs []error
	for _, f := range fields {
		if !f.ok {
			errs = append(errs, r.fail(n, "%s line without %s", l.Type, f.name))
		}
	}
	return errors.Join(errs...)
}

// fieldCheck is a required field and whether the line has it.
type fieldCheck struct {
	name string
	ok   bool
}

func has(name string, ok bool) fieldCheck { return fieldCheck{name, ok} }

// header reads the first line: the run, the instance and its settings.
func (r *journalReader) header(n int, l *jline) error {
	if l.Type != "hdr" {
		return r.fail(n, "the first line must be the header ({\"t\":\"hdr\",...}), got %q", l.Type)
	}
	if l.Format != JournalVersion {
		return r.fail(n, "format version %d, this tally reads version %d", l.Format, JournalVersion)
	}
	if l.ClockBound < 0 || l.ClockBound > 1e9 {
		return r.fail(n, "header: clock bound %v ms is out of range (0 to 1e9)", l.ClockBound)
	}
	low := int64(DefaultLowThreshold)
	if l.Low != nil {
		low = *l.Low
	}
	sign, err := ParseAmountSign(l.Sign)
	if err != nil {
		return r.fail(n, "header: %v", err)
	}
	r.st.inst = instance{
		name: l.Instance, run: l.Run, host: l.Host, source: r.path, wall0: l.Wall0,
		eps: int64(l.ClockBound * 1e6), low: low, overdraft: l.Overdraft, sign: sign,
		segment: l.Segment, sequence: l.Sequence,
	}
	r.gotHdr = true
	return nil
}

// snapshotLine reads an opening or closing snapshot; each is allowed once
// per account.
func (r *journalReader) snapshotLine(n int, l *jline) error {
	if err := r.need(n, l, has("a", l.Account != ""), has("bal", l.Balance != nil)); err != nil {
		return err
	}
	m0 := *l.Mono
	if l.Mono0 != nil {
		m0 = *l.Mono0
	}
	s := &snapRec{call: m0, ret: *l.Mono, snap: l.snapshot()}
	a := r.account(l.Account)
	slot, verb := &a.open, "opened"
	if l.Type == "close" {
		slot, verb = &a.close, "closed"
	}
	if *slot != nil {
		return r.fail(n, "account %q %s twice", l.Account, verb)
	}
	*slot = s
	return nil
}

// beginLine reads the start of a deduction.
func (r *journalReader) beginLine(n int, l *jline) error {
	id, err := l.id()
	if err != nil {
		return r.fail(n, "beg line: %v", err)
	}
	if err := r.need(n, l, has("a", l.Account != ""), has("amt", l.Amount != nil)); err != nil {
		return err
	}
	if *l.Amount <= 0 {
		return r.fail(n, "beg line with amount %d: a deduction is always of one credit or more", *l.Amount)
	}
	if r.begun.has(id) {
		return r.fail(n, "operation %d begun twice", id)
	}
	r.begun.add(id)
	j := r.early[id]
	if j != nil {
		delete(r.early, id)
	} else {
		j = &jop{}
	}
	j.acct = l.Account
	j.rec = opRec{id: id, feature: l.Feature, key: l.Key, amount: *l.Amount, call: *l.Mono}
	r.account(l.Account) // the account exists from its first line
	r.open[id] = j
	r.settle(id, j)
	return nil
}

// endLine reads the outcome of a deduction, or of its replay ("rp":1).
func (r *journalReader) endLine(n int, l *jline) error {
	id, err := l.id()
	if err != nil {
		return r.fail(n, "end line: %v", err)
	}
	o, err := l.outcome()
	if err != nil {
		return r.fail(n, "end line: %v", err)
	}
	if err := o.validate(); err != nil {
		return r.fail(n, "end line: %v", err)
	}
	if l.Status < 0 || l.Status > 999 {
		return r.fail(n, "end line with HTTP status %d", l.Status)
	}
	e := &jend{o, *l.Mono}
	if l.Replay == 0 {
		if r.ended.has(id) {
			return r.fail(n, "operation %d ended twice", id)
		}
		r.ended.add(id)
	}
	j := r.open[id]
	switch {
	case j == nil && r.begun.has(id):
		r.ignored++ // a replay of a deduction already settled for good
		return nil
	case j == nil:
		if j = r.early[id]; j == nil {
			j = &jop{}
			r.early[id] = j
		}
	}
	if l.Replay != 0 {
		j.replay = e
	} else {
		j.end = e
	}
	if j.acct != "" {
		r.settle(id, j)
	}
	return nil
}

// settle spills a begun deduction once it is settled for good: a plain
// end line with a definite outcome and no replay.
func (r *journalReader) settle(id uint64, j *jop) {
	if j.replay != nil || j.end == nil {
		return
	}
	switch j.end.out.Kind {
	case OK, Insufficient, Rejected:
	default:
		return
	}
	j.rec.out, j.rec.ret = j.end.out, j.end.m
	a := r.account(j.acct)
	r.st.parts[partOf(j.acct)].putOp(a.sid, &j.rec)
	delete(r.open, id)
}

// outcome is the Outcome an end line records.
func (l *jline) outcome() (Outcome, error) {
	kind, err := ParseOutcomeKind(l.Outcome)
	if err != nil {
		return Outcome{}, err
	}
	o := Outcome{Kind: kind, TxID: l.TxID, Status: l.Status}
	if l.Balance != nil {
		o.Balance, o.HasBalance = *l.Balance, true
	}
	if l.Version != nil {
		o.Version, o.HasVersion = *l.Version, true
	}
	if l.Charged != nil {
		o.Charged, o.HasCharged = *l.Charged, true
	}
	if kind == Unknown {
		if o.Cause, err = ParseCause(l.Cause); err != nil {
			return Outcome{}, err
		}
	}
	return o, nil
}

// readLine reads a balance read.
func (r *journalReader) readLine(n int, l *jline) error {
	id, err := l.id()
	if err != nil {
		return r.fail(n, "rd line: %v", err)
	}
	if err := r.need(n, l, has("a", l.Account != ""), has("bal", l.Balance != nil), has("m0", l.Mono0 != nil)); err != nil {
		return err
	}
	a := r.account(l.Account)
	r.st.parts[partOf(l.Account)].putRead(a.sid, &readRec{id: id, call: *l.Mono0, ret: *l.Mono, snap: l.snapshot()})
	return nil
}

// noticesLine reads the notices of an account; the latest list wins.
func (r *journalReader) noticesLine(n int, l *jline) error {
	if err := r.need(n, l, has("a", l.Account != "")); err != nil {
		return err
	}
	a := r.account(l.Account)
	list := make([]Notice, 0, len(l.Notices))
	for _, x := range l.Notices {
		nt := Notice{Kind: x.Kind, CreatedAt: x.At}
		if x.Balance != nil {
			nt.Remaining, nt.HasRemaining = *x.Balance, true
		}
		list = append(list, nt)
	}
	if m := *l.Mono; !a.noticesSet || m >= a.noticesAt {
		a.notices, a.noticesSet, a.noticesAt = list, true, m
	}
	return nil
}

// logLine reads one transaction of the server's log of an account (or,
// without an id, that the log was read and is empty).
func (r *journalReader) logLine(n int, l *jline) error {
	if err := r.need(n, l, has("a", l.Account != "")); err != nil {
		return err
	}
	a := r.account(l.Account)
	a.logSet = true
	if len(l.ID) == 0 {
		return nil
	}
	id, err := l.idString()
	if err != nil {
		return r.fail(n, "log line: %v", err)
	}
	if err := r.need(n, l, has("amt", l.Amount != nil)); err != nil {
		return err
	}
	tx := LogTx{ID: id, Feature: l.Feature, Amount: *l.Amount, Key: l.Key, CreatedAt: l.At}
	if l.Balance != nil {
		tx.BalanceAfter, tx.HasBalance = *l.Balance, true
	}
	r.st.parts[partOf(l.Account)].putLog(a.sid, &tx) // a transaction id seen before is dropped when loaded
	return nil
}

// snapshot is the balance snapshot of an open, close or rd line.
func (l *jline) snapshot() Snapshot {
	s := Snapshot{Balance: *l.Balance}
	if l.Used != nil {
		s.Used, s.HasUsed = *l.Used, true
	}
	if l.Version != nil {
		s.Version, s.HasVersion = *l.Version, true
	}
	if l.LowNotified != nil && l.DepletedNotified != nil {
		s.LowNotified, s.DepletedNotified, s.HasFlags = *l.LowNotified, *l.DepletedNotified, true
	}
	return s
}

// id is the operation id of a beg, end or rd line.
func (l *jline) id() (uint64, error) {
	if len(l.ID) == 0 {
		return 0, errors.New("no id")
	}
	id, err := strconv.ParseUint(string(l.ID), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("id %s is not a whole number", l.ID)
	}
	if id == 0 {
		return 0, errors.New("id 0 (operation ids start at 1)")
	}
	return id, nil
}

// idString is the transaction id of a log line (a string or a number).
func (l *jline) idString() (string, error) {
	var s string
	if json.Unmarshal(l.ID, &s) == nil {
		return s, nil
	}
	var n json.Number
	if json.Unmarshal(l.ID, &n) == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("id %s is neither a string nor a number", l.ID)
}

// finish keeps the deductions not settled for good in memory, with the
// outcome of their replay, else of their end line, else pending, and
// notes what a crash left behind.
func (r *journalReader) finish() {
	st := r.st
	st.inst.footer = r.footer != nil
	ids := make([]uint64, 0, len(r.open))
	for id := range r.open {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	pending := 0
	for _, id := range ids {
		j := r.open[id]
		rec := j.rec
		switch {
		case j.replay != nil:
			rec.out, rec.ret, rec.replayed = j.replay.out, j.replay.m, true
		case j.end != nil:
			rec.out, rec.ret = j.end.out, j.end.m
		default:
			pending++
		}
		a := r.account(j.acct)
		a.ops = append(a.ops, rec)
	}
	orphans := 0
	for _, j := range r.early {
		if j.end != nil {
			orphans++
		}
	}
	if orphans > 0 {
		st.notes = append(st.notes, fmt.Sprintf("journal %s: %d end lines without a begin line were ignored", r.path, orphans))
	}
	if r.ignored > 0 {
		st.notes = append(st.notes, fmt.Sprintf("journal %s: %d replay lines of deductions already settled were ignored", r.path, r.ignored))
	}
	switch {
	case r.footer == nil:
		st.notes = append(st.notes, fmt.Sprintf("journal %s has no footer (the instance ended early): %d deductions never settled count as unknown", r.path, pending))
	case *r.footer != r.events:
		st.notes = append(st.notes, fmt.Sprintf("journal %s: the footer counts %d lines, %d were read", r.path, *r.footer, r.events))
	}
}

// loadJournal reads the journal at path into a store (spill files in dir).
func loadJournal(ctx context.Context, path, dir string) (*journalStore, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &JournalError{Path: path, Err: err}
	}
	defer f.Close()
	return readJournal(ctx, f, path, dir)
}

// VerifyJournals merges the journals of one run (one per instance) and
// verifies them as if one instance had run everything. Accounts seen by a
// single instance keep exact real-time checks; accounts shared by several
// are checked with each instance's times widened by its clock bound. The
// journals are read once, their settled records spilled by account to
// temporary files (in opts.TempDir) that are gone when it returns, and
// verified a group of accounts at a time: memory is bounded by the largest
// group, not by the journals' size.
func VerifyJournals(ctx context.Context, paths []string, opts VerifyOptions) (*Report, error) {
	if len(paths) == 0 {
		return nil, errors.New("verify journals: no journal given")
	}
	stores, err := loadJournals(ctx, paths, opts.TempDir)
	defer releaseStores(stores)
	if err != nil {
		return nil, err
	}
	srcs := make([]source, 0, len(stores))
	var notes []string
	for _, st := range stores {
		srcs = append(srcs, st)
		notes = append(notes, st.notes...)
	}
	if err := checkInstances(headers(srcs)); err != nil {
		return nil, fmt.Errorf("merge journals: %w", err)
	}
	opts.allSegments = true
	return verifySources(ctx, srcs, notes, opts)
}

// loadJournals reads the journals at paths; on error the stores read so
// far are returned too, for release.
func loadJournals(ctx context.Context, paths []string, dir string) ([]*journalStore, error) {
	var stores []*journalStore
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return stores, &JournalError{Path: p, Err: fmt.Errorf("not read: %w", err)}
		}
		st, err := loadJournal(ctx, p, dir)
		if err != nil {
			return stores, err
		}
		stores = append(stores, st)
	}
	return stores, nil
}

func releaseStores(stores []*journalStore) {
	for _, st := range stores {
		st.release()
	}
}

func headers(srcs []source) []instance {
	out := make([]instance, 0, len(srcs))
	for _, s := range srcs {
		out = append(out, s.header())
	}
	return out
}

// Merge loads the journals of other instances of this run, so that Verify
// covers their operations too (the same verdict as one instance running
// everything). Their settled records are spilled like this Ledger's own.
func (l *Ledger) Merge(ctx context.Context, paths ...string) error {
	stores, err := loadJournals(ctx, paths, l.cfg.SpillDir)
	if err != nil {
		releaseStores(stores)
		if ctx.Err() != nil {
			return fmt.Errorf("merge: %w", err)
		}
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	insts := []instance{{name: l.cfg.Instance, run: l.cfg.Run}}
	for _, st := range append(l.merged, stores...) {
		insts = append(insts, st.inst)
	}
	if err := checkInstances(insts); err != nil {
		releaseStores(stores)
		return fmt.Errorf("merge: %w", err)
	}
	l.merged = append(l.merged, stores...)
	return nil
}

// Discard frees what the Ledger spilled to temporary files (the files'
// names are removed at creation; this closes them). The Ledger must not
// be used afterwards; without Discard they go when the process exits.
func (l *Ledger) Discard() {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		sh.spill.release()
		sh.mu.Unlock()
	}
	l.mu.Lock()
	releaseStores(l.merged)
	l.merged = nil
	l.mu.Unlock()
}

// WriteJournal writes this instance's bookkeeping so far as a complete
// journal (header, events, footer) to w, a group of accounts at a time.
// Journals merged in are not included.
func (l *Ledger) WriteJournal(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	jw := &exportWriter{w: bw, prefix: l.prefix, buf: appendHeader(nil, l.header())}
	src := liveSource{l}
	for _, g := range planGroups([]source{src}, DefaultGroupRecords) {
		d, err := load(src, g.part, g.names, nil)
		if err != nil {
			return fmt.Errorf("write journal: %w", err)
		}
		names := make([]string, 0, len(d.accounts))
		for n := range d.accounts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			if err := jw.account(d.accounts[name]); err != nil {
				return fmt.Errorf("write journal: %w", err)
			}
		}
	}
	jw.buf = appendFooter(jw.buf, jw.lines)
	if err := jw.flush(); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}

// exportWriter writes the lines of loaded accounts as a journal.
type exportWriter struct {
	w      io.Writer
	prefix string // generated keys are prefix + id
	buf    []byte
	lines  int64
}

func (e *exportWriter) flush() error {
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

func (e *exportWriter) add(b []byte) {
	e.buf = b
	e.lines++
}

// account writes one account's lines in the order a run writes them.
func (e *exportWriter) account(a *account) error {
	name := a.name
	if a.open != nil {
		e.add(appendSnapLine(e.buf, "open", name, a.open.call, a.open.ret, a.open.snap))
	}
	for i := range a.ops {
		r := &a.ops[i]
		key := r.key
		if key == "" {
			key = e.prefix + strconv.FormatUint(r.id, 10)
		}
		e.add(appendBeginLine(e.buf, r.id, name, r.feature, r.amount, key, r.call))
		if r.out.Kind != Pending {
			e.add(appendEndLine(e.buf, r.id, r.out, r.replayed, r.ret))
		}
		if len(e.buf) > journalChunk {
			if err := e.flush(); err != nil {
				return err
			}
		}
	}
	for i := range a.reads {
		r := &a.reads[i]
		e.add(appendReadLine(e.buf, r.id, name, r.call, r.ret, r.snap))
	}
	if a.noticesSet {
		e.add(appendNoticesLine(e.buf, name, a.noticesAt, a.notices))
	}
	if a.logSet {
		e.add(appendLogLine(e.buf, name, 0, nil))
		for i := range a.log {
			e.add(appendLogLine(e.buf, name, 0, &a.log[i]))
		}
	}
	if a.close != nil {
		e.add(appendSnapLine(e.buf, "close", name, a.close.call, a.close.ret, a.close.snap))
	}
	return e.flush()
}

// ExportJournal writes this instance's journal to path, atomically: to a
// temporary file in the same directory, renamed into place when complete.
func (l *Ledger) ExportJournal(path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("export journal: %w", err)
	}
	tmp := f.Name()
	if err := l.WriteJournal(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("export journal %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("export journal %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("export journal %s: %w", path, err)
	}
	return nil
}
