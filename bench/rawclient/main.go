// Command rawclient is the floor for bench/latency.sh: GETs of one URL at a
// fixed rate, one after the other on one keep-alive connection, each the
// least a Go client can do (write the request bytes, block reading the
// response with http.ReadResponse, read the body), timed from the write to
// the end of the body and printed as JSON percentiles. What tally reports
// above this is tally's own cost; what this reports above the server's
// handler time is the kernel's, the scheduler's and the server's HTTP
// stack's. Loopback only.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"
)

func main() {
	target := flag.String("url", "http://127.0.0.1:18302/api/v1/beta/credits/balance", "URL to GET (loopback)")
	rate := flag.Int("rate", 200, "requests per second")
	dur := flag.Duration("duration", 30*time.Second, "how long to send")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || !isLoopback(u.Hostname()) || *rate < 1 || *rate > 5000 || *dur <= 0 || *dur > 5*time.Minute {
		fmt.Fprintln(os.Stderr, "rawclient: -url must be an http URL on loopback, -rate 1..5000, -duration up to 5m")
		os.Exit(2)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawclient:", err)
		os.Exit(1)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	reqBytes := []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nAuthorization: Bearer mock-token-bench\r\nUser-Agent: rawclient\r\n\r\n")
	var times []time.Duration
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	end := time.Now().Add(*dur)
	for now := range tick.C {
		if now.After(end) {
			break
		}
		start := time.Now()
		if _, err := conn.Write(reqBytes); err != nil {
			fmt.Fprintln(os.Stderr, "rawclient:", err)
			os.Exit(1)
		}
		res, err := http.ReadResponse(br, nil)
		if err == nil {
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "rawclient:", err)
			os.Exit(1)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	q := func(p float64) float64 {
		if len(times) == 0 {
			return 0
		}
		return float64(times[int(p*float64(len(times)-1))]) / float64(time.Millisecond)
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"count": len(times), "p50_ms": q(0.5), "p95_ms": q(0.95)})
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
