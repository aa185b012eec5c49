package ledger

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
)

// correctConfig draws a simulation of an atomic server: 1–3 accounts, 2 to
// 300 concurrent clients, 0–5 % unknown outcomes (lost before or after the
// server applied them, applied late, connection resets, 500s), reads,
// notices, and sometimes replays, server logs, versions, flags, used credits.
func correctConfig(seed uint64) simConfig {
	r := rand.New(rand.NewPCG(seed, 99))
	clients := []int{2, 5, 20, 50, 100, 300}[r.IntN(6)]
	unknown := 0.0
	if r.IntN(5) > 0 {
		unknown = r.Float64() * 0.05
	}
	drop := 0.0
	if r.IntN(4) == 0 {
		drop = r.Float64() * 0.1
	}
	return simConfig{
		seed:        seed,
		accounts:    1 + r.IntN(3),
		clients:     clients,
		ops:         30 + r.IntN(270),
		readFrac:    0.1,
		unknownFrac: unknown,
		startFactor: 0.4 + r.Float64(),
		replay:      r.IntN(3) == 0,
		log:         r.IntN(2) == 0,
		notices:     true,
		versions:    r.IntN(2) == 0,
		flags:       r.IntN(2) == 0,
		used:        r.IntN(2) == 0,
		dropBalance: drop,
	}
}

// TestCorrectHistoriesPass is the no-false-alarm property: 1,000 generated
// histories of a correct server must all pass.
func TestCorrectHistoriesPass(t *testing.T) {
	ctx := context.Background()
	unknowns := 0
	for seed := range uint64(1000) {
		cfg := correctConfig(seed)
		s := runSim(t, cfg)
		r, err := s.l.Verify(ctx, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		unknowns += r.Totals.Counts.Unknown + r.Totals.Counts.Resolved
		if r.Verdict != Pass {
			var b strings.Builder
			WriteText(&b, r)
			t.Fatalf("%v: verdict %s\n%s", cfg, r.Verdict, b.String())
		}
	}
	if unknowns == 0 {
		t.Fatal("the generator produced no unknown outcomes")
	}
}

// The benchmark-sized histories (500 clients on one account, 1,000 clients
// over 100 accounts) pass too, with and without resolution.
func TestLargeCorrectHistories(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, cfg := range []simConfig{
		{seed: 2, accounts: 1, clients: 500, ops: 20_000, readFrac: 0.1, unknownFrac: 0.02, startFactor: 0.9, notices: true, versions: true, flags: true},
		{seed: 3, accounts: 1, clients: 500, ops: 20_000, readFrac: 0.1, unknownFrac: 0.02, startFactor: 0.9, notices: true, replay: true},
		{seed: 4, accounts: 100, clients: 1000, ops: 30_000, readFrac: 0.1, unknownFrac: 0.02, startFactor: 0.9, notices: true, log: true, used: true},
	} {
		s := runSim(t, cfg)
		r, err := s.l.Verify(ctx, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != Pass {
			t.Fatalf("%v: %s", cfg, text(r))
		}
	}
}
