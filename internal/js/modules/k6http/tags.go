package k6http

import (
	"hash/maphash"
	"strconv"
	"sync/atomic"

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

// tagSets is a run's table of the tag sets its clients built (owned by the
// RootModule, shared by every VU): a request whose tags match a set built
// before, by any VU, gets the same set back, without allocating (and
// consumers that compare sets by pointer take their fast path). VUs of one
// script request the same URLs under the same groups, so one set serves all
// of them where a cache per VU kept copies of the same few sets in every VU
// (about 1.8 KiB per VU of bench/vus100.js, its four entries and their
// sets). The table is direct-mapped: an entry is found by the hash of what
// the set is built from and replaced by the next set of the same slot, so
// it is bounded (tagSetSlots) and needs no lock. It is safe for concurrent
// use.
type tagSets struct {
	seed  maphash.Seed
	slots [tagSetSlots]atomic.Pointer[tagSetEntry]
}

// tagSetSlots is the number of sets a run's table holds at most.
const tagSetSlots = 1024

// tagSetEntry is one set and what it was built from; never changed once
// stored.
type tagSetEntry struct {
	hash uint64
	base []metrics.Tag
	sys  metrics.SystemTagSet
	h    hopTags
	set  *metrics.TagSet
}

func newTagSets() *tagSets { return &tagSets{seed: maphash.MakeSeed()} }

// get returns buildTags(base, sys, h), from the table when possible.
func (t *tagSets) get(base []metrics.Tag, sys metrics.SystemTagSet, h *hopTags) *metrics.TagSet {
	sum := t.hash(base, sys, h)
	slot := &t.slots[sum%tagSetSlots]
	if e := slot.Load(); e != nil && e.hash == sum && e.sys == sys && e.h == *h && sameTags(e.base, base) {
		return e.set
	}
	set := buildTags(base, sys, h)
	slot.Store(&tagSetEntry{hash: sum, base: base, sys: sys, h: *h, set: set})
	return set
}

// hash hashes what a set is built from, or enough of it to tell sets apart
// (the tag values that vary between requests; get compares the rest).
func (t *tagSets) hash(base []metrics.Tag, sys metrics.SystemTagSet, h *hopTags) uint64 {
	const k = 0x9e3779b97f4a7c15
	sum := uint64(sys)
	for _, tag := range base {
		sum = (sum ^ maphash.String(t.seed, tag.Value)) * k
	}
	sum = (sum ^ maphash.String(t.seed, h.name)) * k
	if h.url != h.name {
		sum = (sum ^ maphash.String(t.seed, h.url)) * k
	}
	for _, v := range [...]string{h.method, h.status, h.expected, h.err} {
		sum = (sum ^ maphash.String(t.seed, v)) * k
	}
	return sum ^ sum>>29
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
