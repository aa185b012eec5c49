package limits

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// MemoryShare is the share of the machine's (or the cgroup's) memory that
// tally sets as its Go memory limit when GOMEMLIMIT is not set.
const MemoryShare = 0.9

// GuardShare is the share of the memory limit the live heap may reach
// before the memory guard stops the test.
const GuardShare = 0.75

// SetMemoryLimit sets the Go runtime's soft memory limit to MemoryShare of
// the memory available (the smaller of the machine's memory and the cgroup
// limit) unless GOMEMLIMIT is set, which is honoured. It returns the limit
// in force and where it comes from; 0 when none is known.
func SetMemoryLimit(getenv func(string) string) (limit int64, source string) {
	if v := getenv("GOMEMLIMIT"); v != "" && v != "off" {
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT=" + v
	}
	avail, from := availableMemory()
	if avail <= 0 {
		return 0, ""
	}
	limit = int64(float64(avail) * MemoryShare)
	debug.SetMemoryLimit(limit)
	return limit, fmt.Sprintf("%.0f %% of the %s (%s)", MemoryShare*100, from, human(avail))
}

// availableMemory returns the smaller of the machine's memory and the
// cgroup memory limit, in bytes.
func availableMemory() (int64, string) {
	best, from := int64(0), ""
	if n := memTotal("/proc/meminfo"); n > 0 {
		best, from = n, "machine's memory"
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if n := cgroupLimit(p); n > 0 && (best == 0 || n < best) {
			best, from = n, "cgroup's memory limit"
		}
	}
	return best, from
}

func memTotal(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err == nil && kb > 0 && kb < math.MaxInt64/1024 {
				return kb * 1024
			}
		}
	}
	return 0
}

func cgroupLimit(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 { // "max", or v1's "no limit" value
		return 0
	}
	return n
}

// OutOfMemoryError is the cause a run is stopped with by the memory guard.
type OutOfMemoryError struct {
	Live, Limit int64
	Source      string
}

func (e *OutOfMemoryError) Error() string {
	return fmt.Sprintf("out of memory: the script's live heap reached %s, over %.0f %% of tally's memory limit of %s (%s); "+
		"the test was stopped (set GOMEMLIMIT to change the limit, or use fewer VUs or less data per VU)",
		human(e.Live), GuardShare*100, human(e.Limit), e.Source)
}

// liveHeap reads the heap in use after the last GC (live objects) and the
// heap in use now.
func liveHeap(s []metrics.Sample) (live, now uint64) {
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		live = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		now = s[1].Value.Uint64()
	}
	return live, now
}

// Guard watches the heap every interval until ctx is done and calls stop
// once, with an *OutOfMemoryError, when the live heap (what survived the
// last collection) exceeds GuardShare of limit: the process would otherwise
// die in Go's "fatal error: out of memory" without a summary. A limit of 0
// or less disables the guard.
func Guard(ctx context.Context, limit int64, source string, interval time.Duration, stop func(error)) {
	if limit <= 0 || limit == math.MaxInt64 {
		return
	}
	threshold := uint64(float64(limit) * GuardShare)
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		live, now := liveHeap(s)
		if now > threshold && live <= threshold {
			// Garbage or live? Collect to know before stopping a test.
			runtime.GC()
			live, _ = liveHeap(s)
		}
		if live > threshold {
			stop(&OutOfMemoryError{Live: int64(live), Limit: limit, Source: source})
			return
		}
	}
}
