package ledger

// chunkLen is the number of items in a full chunk.
const chunkLen = 1024

// chunked is an append-only list kept in chunks of chunkLen items: growing
// it never copies more than one chunk (a flat slice of a million
// operations would copy hundreds of megabytes under the account's lock).
// The first chunk grows from small, so an account with few operations
// stays small. Not safe for concurrent use; the shard lock guards it.
type chunked[T any] struct {
	chunks [][]T
	n      int
}

// add appends v and returns its index.
func (c *chunked[T]) add(v T) int {
	k := len(c.chunks)
	if k == 0 || len(c.chunks[k-1]) == chunkLen {
		size := chunkLen
		if k == 0 {
			size = 8
		}
		c.chunks = append(c.chunks, make([]T, 0, size))
		k++
	}
	c.chunks[k-1] = append(c.chunks[k-1], v)
	c.n++
	return c.n - 1
}

// at returns the item at index i; the pointer is valid until the next add.
func (c *chunked[T]) at(i int) *T { return &c.chunks[i/chunkLen][i%chunkLen] }

// len returns the number of items.
func (c *chunked[T]) len() int { return c.n }

// flat copies the items into one slice.
func (c *chunked[T]) flat() []T {
	out := make([]T, 0, c.n)
	for _, ch := range c.chunks {
		out = append(out, ch...)
	}
	return out
}

// balSet is a set of balances, for the online duplicate check. Balances of
// one account are dense (they fall by a few credits at a time), so the set
// is a map of 4096-bit pages with the last page cached: a lookup is a bit
// test, not a hash-map probe among a million entries.
type balSet struct {
	pages    map[int64]*[64]uint64
	lastKey  int64
	lastPage *[64]uint64
}

// add inserts v and reports whether it was new.
func (s *balSet) add(v int64) bool {
	key := v >> 12
	p := s.lastPage
	if p == nil || key != s.lastKey {
		if s.pages == nil {
			s.pages = make(map[int64]*[64]uint64)
		}
		if p = s.pages[key]; p == nil {
			p = new([64]uint64)
			s.pages[key] = p
		}
		s.lastKey, s.lastPage = key, p
	}
	bit := uint64(v) & 4095
	w, m := bit/64, uint64(1)<<(bit%64)
	if p[w]&m != 0 {
		return false
	}
	p[w] |= m
	return true
}
