package metrics

import (
	"fmt"
	"sync"
)

// Registry holds the metrics of one test run. It is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	byName  map[string]*Metric
	ordered []*Metric
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byName: make(map[string]*Metric)}
}

// New returns the metric called name, creating it when it does not exist.
// Asking again for an existing name with the same type returns the same
// metric; a different type or value type is an error, as is an invalid name.
func (r *Registry) New(name string, typ MetricType, contains ...ValueType) (*Metric, error) {
	vt := Default
	if len(contains) > 0 {
		vt = contains[0]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.byName[name]; ok {
		if m.Type != typ {
			return nil, fmt.Errorf("metric %q already exists as a %s, cannot redeclare it as a %s", name, m.Type, typ)
		}
		if m.Contains != vt {
			return nil, fmt.Errorf("metric %q already exists with values of type %s, cannot redeclare it with %s", name, m.Contains, vt)
		}
		return m, nil
	}
	if !ValidName(name) {
		return nil, fmt.Errorf("invalid metric name %q: use 2 to 129 letters, digits and underscores, not starting with a digit", name)
	}
	m := &Metric{Name: name, Type: typ, Contains: vt, Index: len(r.ordered)}
	r.byName[name] = m
	r.ordered = append(r.ordered, m)
	return m, nil
}

// MustNew is New for metrics whose definition is known to be valid; it panics on error.
func (r *Registry) MustNew(name string, typ MetricType, contains ...ValueType) *Metric {
	m, err := r.New(name, typ, contains...)
	if err != nil {
		panic(err)
	}
	return m
}

// Get returns the metric called name, or nil.
func (r *Registry) Get(name string) *Metric {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byName[name]
}

// All returns every metric in creation order.
func (r *Registry) All() []*Metric {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]*Metric(nil), r.ordered...)
}

// Len returns the number of metrics.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.ordered)
}
