package k6http

import (
	"strconv"
	"sync"

	"github.com/tallyhq/tally/metrics"
)

// hopTags are the system tag values of one round trip; empty values are left
// out.
type hopTags struct {
	method, url, name, status, proto, expected, err, errCode, tlsVersion, ip string
}

// buildTags returns the tag set of one round trip's samples: base (the VU's
// current tags merged with the request's own tags, sorted by key) plus the
// enabled system tags. System tags win over base tags, except name, which a
// request's own tags may set. It allocates the set once.
func buildTags(base []metrics.Tag, sys metrics.SystemTagSet, h *hopTags) *metrics.TagSet {
	// The system tags in key order.
	var st [10]metrics.Tag
	n := 0
	add := func(t metrics.SystemTag, key, v string) {
		if v != "" && sys.Has(t) {
			st[n] = metrics.Tag{Key: key, Value: v}
			n++
		}
	}
	add(metrics.TagError, "error", h.err)
	add(metrics.TagErrorCode, "error_code", h.errCode)
	add(metrics.TagExpectedResponse, "expected_response", h.expected)
	add(metrics.TagIP, "ip", h.ip)
	add(metrics.TagMethod, "method", h.method)
	add(metrics.TagName, "name", h.name)
	add(metrics.TagProto, "proto", h.proto)
	add(metrics.TagStatus, "status", h.status)
	add(metrics.TagTLSVersion, "tls_version", h.tlsVersion)
	add(metrics.TagURL, "url", h.url)

	out := make([]metrics.Tag, 0, len(base)+n)
	i, j := 0, 0
	for i < len(base) && j < n {
		a, b := base[i], st[j]
		switch {
		case a.Key < b.Key:
			out = append(out, a)
			i++
		case a.Key > b.Key:
			out = append(out, b)
			j++
		default:
			if a.Key == "name" {
				out = append(out, a)
			} else {
				out = append(out, b)
			}
			i++
			j++
		}
	}
	out = append(out, base[i:]...)
	out = append(out, st[j:n]...)
	return metrics.TagSetFromSorted(out)
}

// mergeTags merges two tag lists sorted by unique key; over wins on equal keys.
func mergeTags(under, over []metrics.Tag) []metrics.Tag {
	if len(over) == 0 {
		return under
	}
	if len(under) == 0 {
		return over
	}
	out := make([]metrics.Tag, 0, len(under)+len(over))
	i, j := 0, 0
	for i < len(under) && j < len(over) {
		switch a, b := under[i], over[j]; {
		case a.Key < b.Key:
			out = append(out, a)
			i++
		case a.Key > b.Key:
			out = append(out, b)
			j++
		default:
			out = append(out, b)
			i++
			j++
		}
	}
	out = append(out, under[i:]...)
	return append(out, over[j:]...)
}

// statusStrings caches the decimal form of the HTTP statuses 0-599 (read only).
var statusStrings = func() [600]string {
	var s [600]string
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusString(code int) string {
	if code >= 0 && code < len(statusStrings) {
		return statusStrings[code]
	}
	return strconv.Itoa(code)
}

// tagCache remembers the last few tag sets a client built: a script that
// requests the same URLs again gets the same sets back, without allocating
// (and consumers that compare sets by pointer take their fast path). It is
// safe for concurrent use.
type tagCache struct {
	mu      sync.Mutex
	entries [4]tagCacheEntry
	next    int
}

type tagCacheEntry struct {
	base []metrics.Tag
	sys  metrics.SystemTagSet
	h    hopTags
	set  *metrics.TagSet
}

// get returns buildTags(base, sys, h), from the cache when possible.
func (c *tagCache) get(base []metrics.Tag, sys metrics.SystemTagSet, h *hopTags) *metrics.TagSet {
	c.mu.Lock()
	for i := range c.entries {
		e := &c.entries[i]
		if e.set != nil && e.sys == sys && e.h == *h && sameTags(e.base, base) {
			set := e.set
			c.mu.Unlock()
			return set
		}
	}
	c.mu.Unlock()
	set := buildTags(base, sys, h)
	c.mu.Lock()
	c.entries[c.next] = tagCacheEntry{base: base, sys: sys, h: *h, set: set}
	c.next = (c.next + 1) % len(c.entries)
	c.mu.Unlock()
	return set
}

func sameTags(a, b []metrics.Tag) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
