package ledger

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The plain-words report of a small failing run, against a golden file
// (refresh with go test -run TestWriteText -update).
func TestWriteText(t *testing.T) {
	s := newScript(t, Config{})
	s.open("alice", 100)
	s.open("bob", 60)
	s.open("carol", 10)
	s.deduct(1, 3, "alice", 5, okBal(95))
	s.deduct(4, 6, "alice", 5, okBal(95)) // lost update
	s.deduct(5, 9, "alice", 3, timeout())
	s.read(10, 11, "alice", 95)
	s.at(20).close("alice", 95)
	op := s.deduct(1, 3, "bob", 15, okBal(45))
	s.deduct(4, 5, "bob", 5, Outcome{Kind: Insufficient, Balance: 45, HasBalance: true})
	s.at(20).close("bob", 38)
	s.notices("bob")
	s.serverLog("bob", LogTx{ID: "t1", Amount: 15, BalanceAfter: 45, HasBalance: true, Key: op.Key},
		LogTx{ID: "t2", Amount: 7, BalanceAfter: 38, HasBalance: true, Key: "cron"})
	s.deduct(1, 2, "carol", 5, okBal(5))
	r := s.verify(VerifyOptions{})
	var got bytes.Buffer
	if err := WriteText(&got, r); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.golden")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("report differs from %s (rerun with -update after checking):\n%s", golden, got.String())
	}
}
