package vustate

import (
	"fmt"

	"github.com/tallyhq/tally/metrics"
)

// Tags builds the tag set of the samples a VU produces from its layers: run
// tags, the scenario's tags, the current group, and tags the script set on
// the VU (exec.vu.tags), later layers winning. The set is rebuilt only after
// a layer changed.
type Tags struct {
	run, scenario *metrics.TagSet
	group         string
	groupOn       bool
	user          map[string]string
	cur           *metrics.TagSet
	dirty         bool
}

// NewTags returns a tag context with the run's tags; groupTag says whether
// the "group" system tag is enabled.
func NewTags(run *metrics.TagSet, groupTag bool) *Tags {
	return &Tags{run: run, groupOn: groupTag, dirty: true}
}

// Current returns the tag set samples should carry now.
func (t *Tags) Current() *metrics.TagSet {
	if t.dirty {
		s := t.run.Merge(t.scenario)
		if t.groupOn {
			s = s.With("group", t.group)
		}
		if len(t.user) > 0 {
			s = s.Merge(metrics.NewTagSet(t.user))
		}
		t.cur, t.dirty = s, false
	}
	return t.cur
}

// SetScenario replaces the scenario layer.
func (t *Tags) SetScenario(s *metrics.TagSet) {
	if t.scenario != s {
		t.scenario, t.dirty = s, true
	}
}

// SetGroup sets the group path ("" for the root group).
func (t *Tags) SetGroup(path string) {
	if t.group != path {
		t.group, t.dirty = path, true
	}
}

// Group returns the current group path.
func (t *Tags) Group() string { return t.group }

// SetUser sets a script-defined VU tag. Values must be strings, numbers or
// booleans; they are stored as strings.
func (t *Tags) SetUser(key string, value any) error {
	var s string
	switch v := value.(type) {
	case string:
		s = v
	case bool:
		s = fmt.Sprint(v)
	case int64, int, float64, int32, uint64:
		s = fmt.Sprint(v)
	default:
		return fmt.Errorf("invalid value for VU tag %q: only strings, numbers and booleans are allowed, got %T", key, value)
	}
	if t.user == nil {
		t.user = map[string]string{}
	}
	t.user[key] = s
	t.dirty = true
	return nil
}

// DeleteUser removes a script-defined VU tag.
func (t *Tags) DeleteUser(key string) {
	if _, ok := t.user[key]; ok {
		delete(t.user, key)
		t.dirty = true
	}
}

// User returns the script-defined tags; the caller must not modify the map.
func (t *Tags) User() map[string]string { return t.user }
