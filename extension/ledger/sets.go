package ledger

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

// has reports whether v is in the set.
func (s *balSet) has(v int64) bool {
	p := s.pages[v>>12]
	if p == nil {
		return false
	}
	bit := uint64(v) & 4095
	return p[bit/64]&(1<<(bit%64)) != 0
}

// idSet is a set of operation ids: one bit each, since ids are dense.
type idSet struct{ s balSet }

func (s *idSet) add(id uint64)      { s.s.add(int64(id)) }
func (s *idSet) has(id uint64) bool { return s.s.has(int64(id)) }
