package thresholds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tallyhq/tally/internal/options"
	"github.com/tallyhq/tally/metrics"
)

// Threshold is one entry of a metric's threshold list.
type Threshold struct {
	Expression
	// AbortOnFail stops the run when a periodic evaluation fails.
	AbortOnFail bool
	// DelayAbortEval is the test time before which a failure does not abort.
	DelayAbortEval time.Duration
	// Raw is the entry as written (a JSON string or object), for outputs
	// that echo threshold definitions.
	Raw json.RawMessage

	agg Aggregation
}

// Set is the list of thresholds written under one key of the thresholds
// option: a metric, or a sub-metric selected by tags.
type Set struct {
	// Key is the key as written, e.g. "http_req_duration{scenario:race}";
	// the summary shows sub-metric results under it.
	Key string
	// Name is the metric's name.
	Name string
	// Tags selects the sub-metric's samples; nil for the whole metric.
	Tags *metrics.TagSet
	// Metric is the metric Name refers to; set by Resolve.
	Metric     *metrics.Metric
	Thresholds []*Threshold
}

// Parse parses the raw thresholds option (key → JSON list) into sets sorted
// by key. Each list entry is an expression string or an object
// {threshold, abortOnFail, delayAbortEval}. It returns warnings for object
// keys it does not know (k6 ignores them too). Errors name the key and the
// entry.
func Parse(raw map[string]json.RawMessage) ([]*Set, []string, error) {
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sets []*Set
	var warnings []string
	for _, key := range keys {
		name, tags, err := ParseKey(key)
		if err != nil {
			return nil, warnings, fmt.Errorf("invalid threshold key %q: %w", key, err)
		}
		set := &Set{Key: key, Name: name, Tags: tags}
		list := bytes.TrimSpace(raw[key])
		var entries []json.RawMessage
		if len(list) > 0 && !bytes.Equal(list, []byte("null")) {
			if err := json.Unmarshal(list, &entries); err != nil {
				return nil, warnings, fmt.Errorf("invalid thresholds for %q: want a list of expressions such as [\"p(95)<500\"], got %s", key, abbreviate(list))
			}
		}
		for _, entry := range entries {
			th, w, err := parseEntry(entry)
			warnings = append(warnings, prefix(key, w)...)
			if err != nil {
				return nil, warnings, fmt.Errorf("invalid threshold %s on metric %q: %w", describeEntry(entry), key, err)
			}
			set.Thresholds = append(set.Thresholds, th)
		}
		sets = append(sets, set)
	}
	return sets, warnings, nil
}

func prefix(key string, ws []string) []string {
	for i, w := range ws {
		ws[i] = fmt.Sprintf("thresholds of %q: %s", key, w)
	}
	return ws
}

func parseEntry(entry json.RawMessage) (*Threshold, []string, error) {
	entry = bytes.TrimSpace(entry)
	th := &Threshold{Raw: entry}
	var src string
	switch {
	case len(entry) > 0 && entry[0] == '"':
		if err := json.Unmarshal(entry, &src); err != nil {
			return nil, nil, err
		}
	case len(entry) > 0 && entry[0] == '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(entry, &obj); err != nil {
			return nil, nil, err
		}
		var warnings []string
		for k, v := range obj {
			var err error
			switch k {
			case "threshold":
				err = json.Unmarshal(v, &src)
			case "abortOnFail":
				err = json.Unmarshal(v, &th.AbortOnFail)
			case "delayAbortEval":
				var d options.Duration
				if err = json.Unmarshal(v, &d); err == nil {
					th.DelayAbortEval = d.D()
				}
			default:
				warnings = append(warnings, fmt.Sprintf("unknown key %q is ignored (known: threshold, abortOnFail, delayAbortEval)", k))
				continue
			}
			if err != nil {
				return nil, warnings, fmt.Errorf("%s: %s is not valid", k, abbreviate(v))
			}
		}
		sort.Strings(warnings)
		if _, ok := obj["threshold"]; !ok {
			return nil, warnings, errors.New(`the object form needs a "threshold" expression`)
		}
		expr, err := ParseExpression(src)
		if err != nil {
			return nil, warnings, err
		}
		th.Expression = expr
		return th, warnings, nil
	default:
		return nil, nil, errors.New("want an expression string or an object {threshold, abortOnFail, delayAbortEval}")
	}
	expr, err := ParseExpression(src)
	if err != nil {
		return nil, nil, err
	}
	th.Expression = expr
	return th, nil, nil
}

// ParseKey splits a thresholds key into the metric name and the optional
// sub-metric selector. Grammar:
//
//	key      = name [ "{" selector "}" ]
//	selector = pair { "," pair }
//	pair     = tagkey ":" value     ; split at the first ":"
//
// Spaces around the name, keys and values are trimmed, then one pair of
// surrounding quotes (' or ") around keys and values. Values may be empty and
// may contain ":" (group paths keep their "::" prefix: "group:::login").
func ParseKey(key string) (string, *metrics.TagSet, error) {
	k := strings.TrimSpace(key)
	open := strings.IndexByte(k, '{')
	if open < 0 {
		if strings.ContainsRune(k, '}') {
			return "", nil, errors.New(`"}" without "{"`)
		}
		if k == "" {
			return "", nil, errors.New("empty metric name")
		}
		return k, nil, nil
	}
	name := strings.TrimSpace(k[:open])
	if name == "" {
		return "", nil, errors.New("empty metric name before \"{\"")
	}
	if !strings.HasSuffix(k, "}") {
		return "", nil, errors.New(`tag selector must end with "}", e.g. http_req_duration{status:200}`)
	}
	inner := strings.TrimSpace(k[open+1 : len(k)-1])
	if inner == "" {
		return "", nil, errors.New(`empty tag selector "{}"`)
	}
	m := map[string]string{}
	for _, pair := range strings.Split(inner, ",") {
		tk, tv, ok := strings.Cut(pair, ":")
		if !ok {
			return "", nil, fmt.Errorf("tag filter %q has no \":\"; write key:value", strings.TrimSpace(pair))
		}
		tk, tv = unquote(tk), unquote(tv)
		if tk == "" {
			return "", nil, fmt.Errorf("tag filter %q has an empty key", strings.TrimSpace(pair))
		}
		if _, dup := m[tk]; dup {
			return "", nil, fmt.Errorf("tag %q is filtered twice", tk)
		}
		m[tk] = tv
	}
	return name, metrics.NewTagSet(m), nil
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

// Resolve binds every set to its metric in reg and checks that each
// expression's aggregation suits the metric's type. Errors name the key and
// the expression.
func Resolve(sets []*Set, reg *metrics.Registry) error {
	for _, s := range sets {
		m := reg.Get(s.Name)
		if m == nil {
			return fmt.Errorf("threshold on %q: no metric called %q; create custom metrics in the init context (new Counter/Gauge/Rate/Trend) or check the name", s.Key, s.Name)
		}
		s.Metric = m
		for _, th := range s.Thresholds {
			agg, err := th.aggregation(m.Type)
			if err != nil {
				return fmt.Errorf("threshold %q on %q: %w", th.Source, s.Key, err)
			}
			th.agg = agg
		}
	}
	return nil
}

// Evaluate applies th to sink, an aggregate of th's metric (or sub-metric),
// at elapsed test time. An empty (or nil) sink is skipped in periodic passes
// (evaluated=false); in the final pass it counts as zeros, except that a Rate
// without samples passes.
func (th *Threshold) Evaluate(t metrics.MetricType, sink metrics.Sink, elapsed time.Duration, final bool) (ok bool, v float64, evaluated bool) {
	if sink == nil || sink.IsEmpty() {
		if !final {
			return false, 0, false
		}
		if t == metrics.Rate {
			return true, 0, true
		}
		sink = metrics.NewSink(t)
	}
	v = value(th.agg, th.Percentile, sink, elapsed)
	return th.Op.Compare(v, th.Bound), v, true
}

// describeEntry renders a list entry for an error message: an expression
// string as %q of its text, anything else abbreviated.
func describeEntry(entry json.RawMessage) string {
	var src string
	if err := json.Unmarshal(entry, &src); err == nil {
		return strconv.Quote(src)
	}
	var obj struct {
		Threshold *string `json:"threshold"`
	}
	if err := json.Unmarshal(entry, &obj); err == nil && obj.Threshold != nil {
		return strconv.Quote(*obj.Threshold)
	}
	return abbreviate(entry)
}

func abbreviate(b []byte) string {
	s := string(b)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
