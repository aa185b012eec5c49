package metrics

import (
	"sort"
	"strings"
)

// Tag is one key/value pair attached to a sample.
type Tag struct {
	Key, Value string
}

// TagSet is an immutable set of tags sorted by key. The nil *TagSet is the
// empty set; every method accepts it. Methods that "change" a set return a
// new one and leave the receiver untouched, so sets can be shared freely
// between goroutines.
type TagSet struct {
	tags []Tag
}

// NewTagSet returns a set holding the entries of m.
func NewTagSet(m map[string]string) *TagSet {
	if len(m) == 0 {
		return nil
	}
	tags := make([]Tag, 0, len(m))
	for k, v := range m {
		tags = append(tags, Tag{k, v})
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
	return &TagSet{tags: tags}
}

// TagSetFromSorted builds a set from tags already sorted by unique key. It
// takes ownership of the slice.
func TagSetFromSorted(tags []Tag) *TagSet {
	if len(tags) == 0 {
		return nil
	}
	return &TagSet{tags: tags}
}

// Len returns the number of tags.
func (s *TagSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.tags)
}

func (s *TagSet) search(key string) (int, bool) {
	if s == nil {
		return 0, false
	}
	i := sort.Search(len(s.tags), func(i int) bool { return s.tags[i].Key >= key })
	return i, i < len(s.tags) && s.tags[i].Key == key
}

// Get returns the value of key and whether it is present.
func (s *TagSet) Get(key string) (string, bool) {
	i, ok := s.search(key)
	if !ok {
		return "", false
	}
	return s.tags[i].Value, true
}

// With returns a set where key has value.
func (s *TagSet) With(key, value string) *TagSet {
	i, ok := s.search(key)
	if ok {
		if s.tags[i].Value == value {
			return s
		}
		tags := make([]Tag, len(s.tags))
		copy(tags, s.tags)
		tags[i].Value = value
		return &TagSet{tags: tags}
	}
	n := s.Len()
	tags := make([]Tag, n+1)
	if n > 0 {
		copy(tags, s.tags[:i])
		copy(tags[i+1:], s.tags[i:])
	}
	tags[i] = Tag{key, value}
	return &TagSet{tags: tags}
}

// Without returns a set without key.
func (s *TagSet) Without(key string) *TagSet {
	i, ok := s.search(key)
	if !ok {
		return s
	}
	if len(s.tags) == 1 {
		return nil
	}
	tags := make([]Tag, 0, len(s.tags)-1)
	tags = append(tags, s.tags[:i]...)
	tags = append(tags, s.tags[i+1:]...)
	return &TagSet{tags: tags}
}

// Merge returns a set holding the tags of s overridden by those of o.
func (s *TagSet) Merge(o *TagSet) *TagSet {
	if o.Len() == 0 {
		return s
	}
	if s.Len() == 0 {
		return o
	}
	tags := make([]Tag, 0, len(s.tags)+len(o.tags))
	i, j := 0, 0
	for i < len(s.tags) && j < len(o.tags) {
		switch a, b := s.tags[i], o.tags[j]; {
		case a.Key < b.Key:
			tags = append(tags, a)
			i++
		case a.Key > b.Key:
			tags = append(tags, b)
			j++
		default:
			tags = append(tags, b)
			i++
			j++
		}
	}
	tags = append(tags, s.tags[i:]...)
	tags = append(tags, o.tags[j:]...)
	return &TagSet{tags: tags}
}

// Contains reports whether every tag of sub is in s with the same value.
func (s *TagSet) Contains(sub *TagSet) bool {
	if sub.Len() == 0 {
		return true
	}
	if s.Len() < sub.Len() {
		return false
	}
	i := 0
	for _, t := range sub.tags {
		for i < len(s.tags) && s.tags[i].Key < t.Key {
			i++
		}
		if i == len(s.tags) || s.tags[i].Key != t.Key || s.tags[i].Value != t.Value {
			return false
		}
		i++
	}
	return true
}

// Tags returns the tags sorted by key. The caller must not modify the slice.
func (s *TagSet) Tags() []Tag {
	if s == nil {
		return nil
	}
	return s.tags
}

// Map returns the tags as a new map.
func (s *TagSet) Map() map[string]string {
	m := make(map[string]string, s.Len())
	for _, t := range s.Tags() {
		m[t.Key] = t.Value
	}
	return m
}

// Equal reports whether both sets hold the same tags.
func (s *TagSet) Equal(o *TagSet) bool {
	if s.Len() != o.Len() {
		return false
	}
	for i, t := range s.Tags() {
		if o.tags[i] != t {
			return false
		}
	}
	return true
}

// String renders the set as k6 names sub-metrics: "k1:v1,k2:v2".
func (s *TagSet) String() string {
	var b strings.Builder
	for i, t := range s.Tags() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.Key)
		b.WriteByte(':')
		b.WriteString(t.Value)
	}
	return b.String()
}
