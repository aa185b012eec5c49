package ledger

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
)

// Settled records leave memory: a deduction once its outcome is definite,
// a read once it returned, a server-log transaction once handed over. They
// go, in a compact binary form, to a spill file of their account's
// partition (accounts are spread over shardCount partitions by a hash of
// their name), and verification reads them back a group of accounts at a
// time (verify_groups.go). What stays in memory per account is small and
// bounded: snapshots, notices, running sums, deductions in flight and
// those whose outcome is still unknown (SettleReplay may resolve them).
//
// A spill file is created in the temporary directory and unlinked at once,
// so nothing is left behind however the process ends; the open descriptor
// keeps it readable. When the file cannot be created or written, records
// stay in memory (the partition's buffer keeps growing) and nothing is lost.

// partSeed hashes account names to partitions: the same in every store of
// this process, so that an account's records from this Ledger and from
// merged journals land in the same partition. Set once, never written.
var partSeed = maphash.MakeSeed()

// partOf returns the partition (and shard) of an account.
func partOf(name string) int { return int(maphash.String(partSeed, name) & (shardCount - 1)) }

// spillChunk is the size at which a partition's buffer is written to its file.
const spillChunk = 64 << 10

// Record tags of the spill format. Every record is framed as
// uvarint(length) tag uvarint(account) fields..., the account being its
// index in the partition's names.
const (
	recOp   byte = 1 // a deduction with its outcome
	recRead byte = 2 // a balance read
	recLog  byte = 3 // a server-log transaction
)

// spillPart is one partition's spill: its file, the bytes not yet written,
// and its accounts. The caller serializes access (the shard lock, for the
// Ledger).
type spillPart struct {
	dir    string // where to create the file; "" means os.TempDir()
	f      *os.File
	buf    []byte
	size   int64 // bytes written to f
	err    error // the first create or write error; records then stay in buf
	names  []string
	ids    map[string]uint32 // name to index, for stores that do not cache it
	counts []int64           // records per account
	byTag  [][3]int64        // records per account by tag (recOp, recRead, recLog): the sizes a reader allocates at once
	logs   int64             // log records in all
	frame  []byte            // scratch for the record being encoded
}

// accountID returns the index of name in the partition, adding it.
func (p *spillPart) accountID(name string) uint32 {
	if id, ok := p.ids[name]; ok {
		return id
	}
	if p.ids == nil {
		p.ids = make(map[string]uint32)
	}
	id := p.addAccount(name)
	p.ids[name] = id
	return id
}

// addAccount appends name to the partition's accounts and returns its index.
func (p *spillPart) addAccount(name string) uint32 {
	p.names = append(p.names, name)
	p.counts = append(p.counts, 0)
	p.byTag = append(p.byTag, [3]int64{})
	return uint32(len(p.names) - 1)
}

// begin starts a record of account id; end frames and appends it.
func (p *spillPart) begin(tag byte, id uint32) []byte {
	b := append(p.frame[:0], tag)
	return binary.AppendUvarint(b, uint64(id))
}

func (p *spillPart) end(b []byte, id uint32) {
	p.frame = b
	p.buf = binary.AppendUvarint(p.buf, uint64(len(b)))
	p.buf = append(p.buf, b...)
	p.counts[id]++
	if t := b[0]; t >= recOp && t <= recLog {
		p.byTag[id][t-recOp]++
	}
	if len(p.buf) >= spillChunk && p.err == nil {
		p.flush()
	}
}

// flush writes the buffer to the file, creating it first.
func (p *spillPart) flush() {
	if len(p.buf) == 0 || p.err != nil {
		return
	}
	if p.f == nil {
		f, err := createUnlinked(p.dir)
		if err != nil {
			p.err = err
			return
		}
		p.f = f
	}
	n, err := p.f.Write(p.buf)
	p.size += int64(n)
	if err != nil {
		p.err = fmt.Errorf("write spill file: %w", err)
		p.buf = p.buf[n:] // keep what did not reach the file
		return
	}
	p.buf = p.buf[:0]
}

// createUnlinked creates a temporary file and removes its name at once:
// the data lives as long as the descriptor, and no exit leaves it behind.
func createUnlinked(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, "tally-ledger-*.spill")
	if err != nil {
		return nil, fmt.Errorf("create spill file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("unlink spill file: %w", err)
	}
	return f, nil
}

// release closes the file; the partition is empty afterwards.
func (p *spillPart) release() {
	if p.f != nil {
		p.f.Close()
	}
	*p = spillPart{dir: p.dir}
}

// presize gives account id's skeleton c (no records yet) the room its
// spilled records take, and ops more deductions: reading them back then
// appends without growing the slices again and again.
func (p *spillPart) presize(c *account, id uint32, ops int) {
	n := p.byTag[id]
	c.ops = make([]opRec, 0, ops+int(n[0]))
	if n[1] > 0 {
		c.reads = make([]readRec, 0, n[1])
	}
	if n[2] > 0 {
		c.log = make([]LogTx, 0, n[2])
	}
}

// spillView is what a reader needs of a partition at one moment: byte
// ranges of a file (segs), then tail (bytes not in a file).
type spillView struct {
	f    *os.File
	segs []spillSeg
	tail []byte
}

// spillSeg is a range of a spill file.
type spillSeg struct{ off, n int64 }

// view flushes what it can and returns a view that stays valid while
// records are appended (they go past the file's range, or to a later tail).
func (p *spillPart) view() spillView {
	p.flush()
	v := spillView{f: p.f}
	if p.f != nil && p.size > 0 {
		v.segs = []spillSeg{{0, p.size}}
	}
	if len(p.buf) > 0 {
		v.tail = append([]byte(nil), p.buf...)
	}
	return v
}

// scan calls fn with each record (tag, account, the fields) whose account
// want accepts.
func (v spillView) scan(want func(acct uint32) bool, fn func(tag byte, acct uint32, d *decoder) error) error {
	return v.scanRaw(func(acct uint32, rec []byte) error {
		if !want(acct) {
			return nil
		}
		d := decoder{b: rec}
		tag := d.byte()
		d.uvarint() // the account, known
		if err := fn(tag, acct, &d); err != nil {
			return err
		}
		return d.err
	})
}

// scanRaw calls fn with each record's account and bytes (tag onwards);
// the slice is valid until fn returns.
func (v spillView) scanRaw(fn func(acct uint32, rec []byte) error) error {
	rs := make([]io.Reader, 0, len(v.segs)+1)
	size := int64(len(v.tail))
	for _, s := range v.segs {
		rs = append(rs, io.NewSectionReader(v.f, s.off, s.n))
		size += s.n
	}
	rs = append(rs, bytes.NewReader(v.tail))
	// A buffer no larger than the records: a verification scans a view per
	// group of accounts, and most views of a small run hold a few KiB.
	br := bufio.NewReaderSize(io.MultiReader(rs...), int(min(size, 256<<10)))
	var rec []byte
	for {
		n, err := binary.ReadUvarint(br)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read spill file: %w", err)
		}
		if uint64(cap(rec)) < n {
			rec = make([]byte, n)
		}
		rec = rec[:n]
		if _, err := io.ReadFull(br, rec); err != nil {
			return fmt.Errorf("read spill file: %w", err)
		}
		d := decoder{b: rec[min(len(rec), 1):]}
		acct := uint32(d.uvarint())
		if d.err != nil {
			return d.err
		}
		if err := fn(acct, rec); err != nil {
			return err
		}
	}
}

// errCorrupt is a spill record that does not decode (it never happens
// unless the file was damaged under the process).
var errCorrupt = errors.New("ledger spill file: corrupt record")

// decoder reads the fields of one record; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns a length-prefixed field; the slice aliases the record.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || uint64(len(d.b)) < n {
		d.err = errCorrupt
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) str() string { return string(d.bytes()) }

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Outcome flags in an op record.
const (
	flBalance = 1 << iota
	flVersion
	flCharged
	flReplayed
	flUsed
	flFlags
	flLow
	flDepleted
)

// putOp spills a deduction of account id.
func (p *spillPart) putOp(id uint32, r *opRec) {
	b := p.begin(recOp, id)
	b = binary.AppendUvarint(b, r.id)
	b = appendStr(b, r.feature)
	b = appendStr(b, r.key)
	b = binary.AppendVarint(b, r.amount)
	b = binary.AppendVarint(b, r.call)
	b = binary.AppendVarint(b, r.ret)
	o := &r.out
	var fl byte
	if o.HasBalance {
		fl |= flBalance
	}
	if o.HasVersion {
		fl |= flVersion
	}
	if o.HasCharged {
		fl |= flCharged
	}
	if r.replayed {
		fl |= flReplayed
	}
	b = append(b, byte(o.Kind), byte(o.Cause), fl)
	if o.HasBalance {
		b = binary.AppendVarint(b, o.Balance)
	}
	if o.HasVersion {
		b = binary.AppendVarint(b, o.Version)
	}
	if o.HasCharged {
		b = binary.AppendVarint(b, o.Charged)
	}
	b = binary.AppendVarint(b, int64(o.Status))
	b = appendStr(b, o.TxID)
	p.end(b, id)
}

// op decodes the fields putOp wrote; feature names are interned by intern.
func (d *decoder) op(intern func([]byte) string) opRec {
	r := opRec{id: d.uvarint()}
	r.feature = intern(d.bytes())
	r.key = d.str()
	r.amount, r.call, r.ret = d.varint(), d.varint(), d.varint()
	o := &r.out
	o.Kind, o.Cause = OutcomeKind(d.byte()), Cause(d.byte())
	fl := d.byte()
	if fl&flBalance != 0 {
		o.Balance, o.HasBalance = d.varint(), true
	}
	if fl&flVersion != 0 {
		o.Version, o.HasVersion = d.varint(), true
	}
	if fl&flCharged != 0 {
		o.Charged, o.HasCharged = d.varint(), true
	}
	r.replayed = fl&flReplayed != 0
	o.Status = int(d.varint())
	o.TxID = d.str()
	return r
}

// putRead spills a balance read of account id.
func (p *spillPart) putRead(id uint32, r *readRec) {
	b := p.begin(recRead, id)
	b = binary.AppendUvarint(b, r.id)
	b = binary.AppendVarint(b, r.call)
	b = binary.AppendVarint(b, r.ret)
	b = appendSnap(b, &r.snap)
	p.end(b, id)
}

func (d *decoder) read() readRec {
	r := readRec{id: d.uvarint(), call: d.varint(), ret: d.varint()}
	r.snap = d.snap()
	return r
}

func appendSnap(b []byte, s *Snapshot) []byte {
	var fl byte
	if s.HasUsed {
		fl |= flUsed
	}
	if s.HasVersion {
		fl |= flVersion
	}
	if s.HasFlags {
		fl |= flFlags
	}
	if s.LowNotified {
		fl |= flLow
	}
	if s.DepletedNotified {
		fl |= flDepleted
	}
	b = append(b, fl)
	b = binary.AppendVarint(b, s.Balance)
	if s.HasUsed {
		b = binary.AppendVarint(b, s.Used)
	}
	if s.HasVersion {
		b = binary.AppendVarint(b, s.Version)
	}
	return b
}

func (d *decoder) snap() Snapshot {
	fl := d.byte()
	s := Snapshot{Balance: d.varint()}
	if fl&flUsed != 0 {
		s.Used, s.HasUsed = d.varint(), true
	}
	if fl&flVersion != 0 {
		s.Version, s.HasVersion = d.varint(), true
	}
	s.HasFlags, s.LowNotified, s.DepletedNotified = fl&flFlags != 0, fl&flLow != 0, fl&flDepleted != 0
	return s
}

// putLog spills a server-log transaction of account id.
func (p *spillPart) putLog(id uint32, t *LogTx) {
	b := p.begin(recLog, id)
	b = appendStr(b, t.ID)
	b = appendStr(b, t.Feature)
	b = binary.AppendVarint(b, t.Amount)
	var fl byte
	if t.HasBalance {
		fl = flBalance
	}
	b = append(b, fl)
	if t.HasBalance {
		b = binary.AppendVarint(b, t.BalanceAfter)
	}
	b = appendStr(b, t.Key)
	b = appendStr(b, t.CreatedAt)
	p.logs++
	p.end(b, id)
}

func (d *decoder) logTx(intern func([]byte) string) LogTx {
	t := LogTx{ID: d.str()}
	t.Feature = intern(d.bytes())
	t.Amount = d.varint()
	if d.byte()&flBalance != 0 {
		t.BalanceAfter, t.HasBalance = d.varint(), true
	}
	t.Key = d.str()
	t.CreatedAt = d.str()
	return t
}
