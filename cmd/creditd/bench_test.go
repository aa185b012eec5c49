package main_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tallyhq/tally/creditd"
	"github.com/tallyhq/tally/creditd/httpapi"
	"github.com/tallyhq/tally/creditd/token"
)

// BenchmarkDeduct measures POST /credits/deduct end to end over loopback HTTP: deductions per second
// and p50/p99 latency, for SQLite and PostgreSQL (when TALLY_TEST_POSTGRES is set), at 1, 16 and 128
// concurrent keep-alive clients. Each request carries a unique Idempotency-Key, as tally's scenarios
// send. accounts=each: every client charges its own account; accounts=1: all clients charge one
// account (the contended case). Client and server share the machine's cores. store=none is the same
// HTTP API over a map in memory: the ceiling that HTTP alone allows, measured side by side.
//
//	make bench-creditd   (or: go test -run '^$' -bench Deduct -benchtime 5s ./cmd/creditd/)
func BenchmarkDeduct(b *testing.B) {
	stores := []struct {
		name  string
		store func(b *testing.B) string // a --store value; "" for none
	}{
		{"none", func(*testing.B) string { return "" }},
		{"sqlite", func(b *testing.B) string { return "sqlite:" + filepath.Join(b.TempDir(), "bench.db") }},
		{"sqlite-normal", func(b *testing.B) string {
			return "sqlite:" + filepath.Join(b.TempDir(), "bench.db") + "?synchronous=normal"
		}},
		{"postgres", func(b *testing.B) string { return PostgresSchema(b) }},
		{"postgres-async", func(b *testing.B) string { return PostgresSchema(b) + "&synchronous_commit=off" }},
	}
	for _, st := range stores {
		for _, clients := range []int{1, 16, 128} {
			for _, shared := range []bool{false, true} {
				if shared && clients == 1 {
					continue
				}
				accounts := "each"
				if shared {
					accounts = "1"
				}
				b.Run(fmt.Sprintf("store=%s/clients=%d/accounts=%s", st.name, clients, accounts), func(b *testing.B) {
					benchDeduct(b, st.store(b), clients, shared)
				})
			}
		}
	}
}

func benchDeduct(b *testing.B, store string, clients int, shared bool) {
	var base string
	if store == "" {
		svc := &creditd.Service{Store: &memStore{accounts: map[string]*creditd.Account{}}, Rates: creditd.DefaultRates(), LowBalance: 50}
		srv := httptest.NewServer(httpapi.NewHandler(httpapi.Config{Service: svc, Auth: token.NewHMAC([]byte(secret)),
			TestEndpoints: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
		defer srv.Close()
		base = srv.URL
	} else {
		base = MustRunMain(b, "--store", store).URL()
	}
	tokens := make([]string, clients)
	users := make([]string, clients)
	for i := range clients {
		users[i] = fmt.Sprintf("bench-%d", i)
		if shared && i > 0 {
			users[i], tokens[i] = users[0], tokens[0]
			continue
		}
		tokens[i] = createUser(b, base, users[i], 1<<50)
	}
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	run := time.Now().UnixNano()

	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0, pg0 := cpuTime(), postgresCPU()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"user_id":%q,"feature":"ai_search","usage_amount":1}`, users[c])
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				req, _ := http.NewRequest("POST", base+"/api/v1/beta/credits/deduct", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tokens[c])
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", fmt.Sprintf("%d-%d", run, i))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					if failed.Add(1) == 1 {
						b.Error(err)
					}
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu, pg := cpuTime()-cpu0, postgresCPU()-pg0
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "deductions/s")
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	// CPU of this process (clients, server and SQLite; not a PostgreSQL server) per deduction: unlike
	// throughput, it hardly depends on what else the machine runs.
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-µs/op")
	if strings.HasPrefix(store, "postgres") && pg > 0 {
		// CPU of every postgres process of this machine per deduction (10 ms resolution; includes any
		// other work that server did meanwhile).
		b.ReportMetric(float64(pg.Microseconds())/float64(len(all)), "pg-cpu-µs/op")
	}
	b.ReportMetric(0, "ns/op")

}

// cpuTime is the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memStore is the least a Store can do (a map under a mutex, no records): the baseline of store=none.
type memStore struct {
	creditd.Store // unused methods
	mu            sync.Mutex
	accounts      map[string]*creditd.Account
	id            int64
}

func (s *memStore) Name() string { return "memory" }

func (s *memStore) CreateAccount(_ context.Context, user string, credits int64) (creditd.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &creditd.Account{UserID: user, Granted: credits, Remaining: credits}
	s.accounts[user] = a
	return *a, nil
}

func (s *memStore) Deduct(_ context.Context, d creditd.Deduction) (creditd.Receipt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[d.UserID]
	if a.Remaining < d.Cost {
		return creditd.Receipt{}, creditd.Insufficient(a.Remaining, d.Cost)
	}
	a.Remaining -= d.Cost
	a.Used += d.Cost
	a.Version++
	s.id++
	return creditd.Receipt{Transaction: creditd.Transaction{ID: s.id, UserID: d.UserID, Amount: d.Cost,
		BalanceAfter: a.Remaining, Version: a.Version}}, nil
}

// postgresCPU sums the user+system CPU time of the processes named "postgres" (Linux /proc; 0
// elsewhere).
func postgresCPU() time.Duration {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, f := range stats {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
		if open < 0 || end < open || string(data[open+1:end]) != "postgres" {
			continue
		}
		fields := strings.Fields(string(data[end+1:]))
		if len(fields) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(fields[11], 10, 64) // utime, field 14 of stat
		s, _ := strconv.ParseInt(fields[12], 10, 64) // stime, field 15
		ticks += u + s
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
