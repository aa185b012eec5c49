package executor

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var benchDuration = flag.Duration("sched.duration", 5*time.Second, "duration of each constant-arrival-rate benchmark run")

// httpVU is a fake VU whose iteration is one loopback HTTP GET; it records
// how late each iteration started against its scheduled start.
type httpVU struct {
	id     uint64
	client *http.Client
	url    string
	lat    *latencies
	errs   *atomic.Int64
}

func (v *httpVU) ID() uint64 { return v.id }

func (v *httpVU) RunIteration(ctx context.Context, it *Iteration) bool {
	v.lat.add(time.Since(it.Scheduled))
	if v.url == "" {
		return true // the no-op VU: measures the scheduler alone
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.url, nil)
	resp, err := v.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		v.errs.Add(1)
		return true
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return true
}

type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	return l.d[int(q*float64(len(l.d)-1))]
}

// BenchmarkConstantArrivalRate runs constant-arrival-rate for -sched.duration
// at several rates and reports the achieved share of the configured rate and
// the start-time jitter (actual − scheduled start). VU "http" does one GET to
// a no-op loopback server per iteration; VU "noop" does nothing, measuring
// the scheduler alone. Run each case once:
//
//	go test -run '^$' -bench ConstantArrivalRate -benchtime 1x ./internal/executor/
func BenchmarkConstantArrivalRate(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	for _, vu := range []struct{ name, url string }{{"http", srv.URL}, {"noop", ""}} {
		for _, rate := range []int64{100, 1000, 5000, 10000, 20000} {
			b.Run(fmt.Sprintf("vu=%s/rate=%d", vu.name, rate), func(b *testing.B) {
				for range b.N {
					benchArrival(b, vu.url, rate)
				}
			})
		}
	}
}

func benchArrival(b *testing.B, url string, rate int64) {
	// VUs for a 50ms stall, all initialized up front (as in the bare
	// loop below): a loopback GET takes well under 1ms, and more VUs only
	// add connections under overload
	maxVUs := max(rate/20, 50)
	pre := maxVUs
	transport := &http.Transport{MaxIdleConnsPerHost: int(maxVUs), MaxIdleConns: int(maxVUs)}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	lat := &latencies{}
	var errs atomic.Int64
	newVU := func(_ context.Context, id, _ uint64) (VU, error) {
		return &httpVU{id: id, client: client, url: url, lat: lat, errs: &errs}, nil
	}
	scenario := fmt.Sprintf(`{"bench":{"executor":"constant-arrival-rate","rate":%d,"duration":%q,"preAllocatedVUs":%d,"maxVUs":%d}}`,
		rate, benchDuration.String(), pre, maxVUs)
	cfgs := mustConfigs(b, scenario)
	s, err := NewScheduler(SchedulerConfig{Scenarios: cfgs, NewVU: newVU})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Init(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	slots := cfgs[0].(*ConstantArrivalRateConfig).globalSlots()
	started := int64(len(lat.d))
	b.ReportMetric(100*float64(started)/float64(slots), "%_of_rate")
	b.ReportMetric(float64(started)/benchDuration.Seconds(), "starts/s")
	b.ReportMetric(float64(slots-started), "dropped")
	b.ReportMetric(float64(lat.quantile(0.5).Microseconds()), "p50_jitter_µs")
	b.ReportMetric(float64(lat.quantile(0.99).Microseconds()), "p99_jitter_µs")
	b.ReportMetric(float64(s.State().VUsInitialized.Load()), "VUs")
	if n := errs.Load(); n > 0 {
		b.ReportMetric(float64(n), "http_errors")
	}
}

// BenchmarkLoopbackGET measures how many GETs per second the no-op
// loopback server and client sustain on this machine with no scheduler
// involved (the ceiling for the vu=http cases above):
//
//	go test -run '^$' -bench LoopbackGET -cpu 2 ./internal/executor/
func BenchmarkLoopbackGET(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	transport := &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}
	b.SetParallelism(8)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(srv.URL)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkBareOpenLoop is the control for the vu=http cases: the same
// open-loop GETs at a fixed rate from a bare loop (sleep until each start,
// one goroutine per request, at most maxVUs in flight, else dropped) with
// no scheduler, pool or executor around it. Compare it side by side:
//
//	go test -run '^$' -bench 'BareOpenLoop|ConstantArrivalRate/vu=http' -benchtime 1x ./internal/executor/
func BenchmarkBareOpenLoop(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	for _, rate := range []int64{100, 1000, 5000, 20000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			for range b.N {
				maxVUs := max(rate/20, 50)
				transport := &http.Transport{MaxIdleConnsPerHost: int(maxVUs), MaxIdleConns: int(maxVUs)}
				client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
				slots := int64(benchDuration.Seconds()*float64(rate)) + 1
				sem := make(chan struct{}, maxVUs)
				lat := &latencies{}
				var wg sync.WaitGroup
				start := time.Now()
				for i := range slots {
					at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
					time.Sleep(time.Until(at))
					select {
					case sem <- struct{}{}:
					default:
						continue
					}
					wg.Go(func() {
						defer func() { <-sem }()
						lat.add(time.Since(at))
						resp, err := client.Get(srv.URL)
						if err != nil {
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					})
				}
				wg.Wait()
				transport.CloseIdleConnections()
				started := int64(len(lat.d))
				b.ReportMetric(100*float64(started)/float64(slots), "%_of_rate")
				b.ReportMetric(float64(lat.quantile(0.5).Microseconds()), "p50_jitter_µs")
				b.ReportMetric(float64(lat.quantile(0.99).Microseconds()), "p99_jitter_µs")
			}
		})
	}
}
