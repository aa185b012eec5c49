package ledger

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestSpillPresize checks that an account read back from the spill gets
// slices of exactly the size of its records (counted by kind as they are
// spilled), so that reading appends without growing them, and that what it
// reads is what was spilled.
func TestSpillPresize(t *testing.T) {
	p := &spillPart{dir: t.TempDir()}
	defer p.release()
	other := p.accountID("other")
	id := p.accountID("acct")
	for i := range 300 {
		p.putOp(id, &opRec{id: uint64(i + 1), feature: "deduct", key: "k" + strconv.Itoa(i), amount: 3})
		if i%3 == 0 {
			p.putRead(id, &readRec{id: uint64(i + 1)})
		}
		if i%2 == 0 {
			p.putLog(id, &LogTx{ID: strconv.Itoa(i + 1), Feature: "deduct", Amount: -3})
		}
		p.putOp(other, &opRec{id: uint64(i + 1), feature: "deduct", amount: 1})
	}
	want := make([]*account, len(p.names))
	c := skeleton(&account{name: "acct"})
	p.presize(c, id, 2)
	c.ops = append(c.ops, opRec{id: 1000}, opRec{id: 1001}) // kept in memory, as in flight
	want[id] = c
	if err := readGroup(p.view(), want); err != nil {
		t.Fatal(err)
	}
	if len(c.ops) != 302 || cap(c.ops) != 302 || len(c.reads) != 100 || cap(c.reads) != 100 ||
		len(c.log) != 150 || cap(c.log) != 150 {
		t.Fatalf("ops %d/%d, reads %d/%d, log %d/%d; want 302/302, 100/100, 150/150",
			len(c.ops), cap(c.ops), len(c.reads), cap(c.reads), len(c.log), cap(c.log))
	}
	if c.ops[2].key != "k0" || c.ops[301].key != "k299" || c.log[149].ID != "299" || c.reads[99].id != 298 {
		t.Fatalf("records read back wrong: %+v %+v %+v %+v", c.ops[2], c.ops[301], c.log[149], c.reads[99])
	}
}

// TestDedupeLog checks that the first transaction of each id is kept, in
// order, with every transaction without an id; and that a log whose ids
// rise is returned as it is.
func TestDedupeLog(t *testing.T) {
	log := func(ids ...string) []LogTx {
		out := make([]LogTx, len(ids))
		for i, id := range ids {
			out[i] = LogTx{ID: id, Amount: int64(i)}
		}
		return out
	}
	// Each transaction's Amount is its position in the input, so the
	// expectations show which copy of an id was kept.
	cases := []struct {
		in   []LogTx
		want []LogTx
	}{
		{log("1", "2", "9", "10", "", "11", "100"), log("1", "2", "9", "10", "", "11", "100")},
		{nil, nil},
		{log("", ""), log("", "")},
		{log("10", "9"), log("10", "9")},
		{log("1", "2", "3", "1", "2", "4"), []LogTx{{ID: "1", Amount: 0}, {ID: "2", Amount: 1}, {ID: "3", Amount: 2}, {ID: "4", Amount: 5}}},
		{log("b", "a", "b", "", "c", "a", ""), []LogTx{{ID: "b", Amount: 0}, {ID: "a", Amount: 1}, {ID: "", Amount: 3}, {ID: "c", Amount: 4}, {ID: "", Amount: 6}}},
		{log("7", "7"), []LogTx{{ID: "7", Amount: 0}}},
	}
	for i, tc := range cases {
		in := slices.Clone(tc.in)
		got := dedupeLog(in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("case %d: got %+v, want %+v", i, got, tc.want)
		}
		if i == 0 && &got[0] != &in[0] {
			t.Errorf("a log of rising ids was copied")
		}
	}
}

// TestSpillViewSizes checks that records are read back whole and in order
// from views of every size, now that scanRaw's buffer is no larger than the
// view: one small record, records in the file and in the tail, and a record
// larger than the largest buffer (256 KiB).
func TestSpillViewSizes(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []int // key lengths, one op each
	}{
		{"one record", []int{1}},
		{"file and tail", slices.Repeat([]int{40, 3, 700}, 800)},
		{"larger than the buffer", []int{10, 300 << 10, 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &spillPart{dir: t.TempDir()}
			defer p.release()
			id := p.accountID("acct")
			other := p.accountID("other")
			for i, n := range tc.keys {
				p.putOp(id, &opRec{id: uint64(i + 1), feature: "deduct", key: strconv.Itoa(i) + ":" + strings.Repeat("x", n)})
				p.putOp(other, &opRec{id: uint64(i + 1), feature: "deduct", amount: 1})
			}
			want := make([]*account, len(p.names))
			c := skeleton(&account{name: "acct"})
			want[id] = c
			if err := readGroup(p.view(), want); err != nil {
				t.Fatal(err)
			}
			if len(c.ops) != len(tc.keys) {
				t.Fatalf("%d ops read back, want %d", len(c.ops), len(tc.keys))
			}
			for i, n := range tc.keys {
				if k := strconv.Itoa(i) + ":" + strings.Repeat("x", n); c.ops[i].key != k || c.ops[i].id != uint64(i+1) {
					t.Fatalf("op %d read back as id %d, key of %d bytes; want id %d, key of %d", i, c.ops[i].id, len(c.ops[i].key), i+1, len(k))
				}
			}
		})
	}
}
