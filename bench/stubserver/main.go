// Command stubserver is a minimal in-memory credit API for benchmarking the
// load generator itself: every answer is precomputed, so the generator, not
// the server, is what a benchmark measures. It listens on loopback only.
//
// GET /stats/handler-time reports how long its handlers took (p50, p95,
// p99, untimed itself), so that a client's reported latency can be compared
// with the server's own share of it (bench/latency.sh).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync/atomic"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18300", "loopback address to listen on")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintln(os.Stderr, "stubserver: -addr must be a loopback address such as 127.0.0.1:18300")
		os.Exit(2)
	}
	var balance atomic.Int64
	balance.Store(1 << 40)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok","store":"memory"}`))
	})
	charge := func(cost int64) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			left := balance.Add(-cost)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"success":true,"credits_charged":%d,"remaining_credits":%d,"transaction_id":"t%d","version":1}`, cost, left, left)
		}
	}
	mux.HandleFunc("/api/v1/beta/ai-search", charge(5))
	mux.HandleFunc("/api/v1/beta/ai-recommendations", charge(3))
	mux.HandleFunc("/api/v1/beta/credits/deduct", charge(5))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"user_id":"u","balance":%d,"remaining_credits":%d,"used_credits":0,"version":1}`, balance.Load(), balance.Load())
	})
	var times handlerTimes
	root := http.NewServeMux()
	root.HandleFunc("/stats/handler-time", times.stats)
	root.Handle("/", times.wrap(mux))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "stubserver listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, root))
}
