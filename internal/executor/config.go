package executor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/tallyhq/tally/internal/options"
)

// Executor type names, as scripts spell them.
const (
	SharedIterationsType     = "shared-iterations"
	PerVUIterationsType      = "per-vu-iterations"
	ConstantVUsType          = "constant-vus"
	RampingVUsType           = "ramping-vus"
	ConstantArrivalRateType  = "constant-arrival-rate"
	RampingArrivalRateType   = "ramping-arrival-rate"
	ExternallyControlledType = "externally-controlled"
)

// Defaults shared by the executors.
const (
	DefaultScenarioName     = "default"
	DefaultExec             = "default"
	DefaultGracefulStop     = 30 * time.Second
	DefaultGracefulRampDown = 30 * time.Second
	DefaultMaxDuration      = 10 * time.Minute
	DefaultTimeUnit         = time.Second
	// MinDuration is the shortest duration or maxDuration an executor accepts.
	MinDuration = time.Second
)

var scenarioNameRE = regexp.MustCompile(`^[0-9a-zA-Z_-]+$`)

// Config is one validated scenario: an executor type with its options,
// defaults filled in. The concrete types are *SharedIterationsConfig,
// *PerVUIterationsConfig, *ConstantVUsConfig, *RampingVUsConfig,
// *ConstantArrivalRateConfig and *RampingArrivalRateConfig.
type Config interface {
	// Name returns the scenario name.
	Name() string
	// Type returns the executor type, e.g. "constant-vus".
	Type() string
	// Common returns the options every executor has.
	Common() *CommonConfig
	// RegularDuration returns how long the scenario starts iterations
	// (without startTime and gracefulStop): duration, maxDuration or the
	// sum of the stages.
	RegularDuration() time.Duration

	keys() []string // executor-specific JSON keys
	validate(errs *configErrors)
	// requirement returns the VUs the scenario needs over time on the
	// instance described by t, relative to its start (planned VUs), and
	// the VUs it may add on demand (unplanned).
	requirement(t *Tuple) (steps []step, unplanned int64)
	newExecutor(t *Tuple, env *runEnv, sc *Scenario) executor
}

// CommonConfig holds the options every executor has.
type CommonConfig struct {
	name         string
	Executor     string            `json:"executor"`
	StartTime    options.Duration  `json:"startTime"`
	GracefulStop options.Duration  `json:"gracefulStop"`
	Exec         string            `json:"exec"`
	Env          map[string]string `json:"env"`
	Tags         map[string]string `json:"tags"`
}

// Name returns the scenario name.
func (c *CommonConfig) Name() string { return c.name }

// Type returns the executor type.
func (c *CommonConfig) Type() string { return c.Executor }

// Common returns c.
func (c *CommonConfig) Common() *CommonConfig { return c }

func newCommon(name, typ string) CommonConfig {
	return CommonConfig{
		name: name, Executor: typ, GracefulStop: options.Duration(DefaultGracefulStop),
		Exec: DefaultExec, Env: map[string]string{}, Tags: map[string]string{},
	}
}

var commonKeys = []string{"executor", "startTime", "gracefulStop", "exec", "env", "tags"}

// configErrors collects validation errors of one scenario, each naming its
// option.
type configErrors struct {
	prefix string // "scenarios.<name>." or "" for shortcut-derived configs
	alias  map[string]string
	errs   []error
}

func (e *configErrors) add(key string, format string, args ...any) {
	opt := e.prefix + key
	if a, ok := e.alias[key]; ok {
		opt = a
	}
	e.errs = append(e.errs, &options.InvalidError{Option: opt, Err: fmt.Errorf(format, args...)})
}

func (e *configErrors) err() error { return errors.Join(e.errs...) }

func (c *CommonConfig) validateCommon(errs *configErrors) {
	if c.StartTime < 0 {
		errs.add("startTime", "must not be negative, got %s", c.StartTime)
	}
	if c.GracefulStop < 0 {
		errs.add("gracefulStop", "must not be negative, got %s", c.GracefulStop)
	}
	if c.Exec == "" {
		errs.add("exec", "must name an exported function, got an empty string")
	}
}

// newConfig returns the default config of an executor type, or nil.
func newConfig(name, typ string) Config {
	switch typ {
	case SharedIterationsType:
		return newSharedIterationsConfig(name)
	case PerVUIterationsType:
		return newPerVUIterationsConfig(name)
	case ConstantVUsType:
		return newConstantVUsConfig(name)
	case RampingVUsType:
		return newRampingVUsConfig(name)
	case ConstantArrivalRateType:
		return newConstantArrivalRateConfig(name)
	case RampingArrivalRateType:
		return newRampingArrivalRateConfig(name)
	}
	return nil
}

var executorTypes = []string{SharedIterationsType, PerVUIterationsType, ConstantVUsType,
	RampingVUsType, ConstantArrivalRateType, RampingArrivalRateType}

// ParseConfig decodes and validates the raw JSON configuration of the
// scenario called name. Errors are *options.InvalidError (several joined
// with errors.Join) naming "scenarios.<name>.<key>".
func ParseConfig(name string, raw json.RawMessage) (Config, error) {
	prefix := "scenarios." + name
	if !scenarioNameRE.MatchString(name) {
		return nil, &options.InvalidError{Option: prefix,
			Err: errors.New("scenario names may contain only latin letters, digits, '_' and '-'")}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, &options.InvalidError{Option: prefix, Err: errors.New("a scenario must be an object such as {executor: 'constant-vus', vus: 10, duration: '30s'}")}
	}
	var typ string
	if v, ok := fields["executor"]; ok {
		if err := json.Unmarshal(v, &typ); err != nil {
			return nil, &options.InvalidError{Option: prefix + ".executor", Err: fmt.Errorf("%s is not a string", abbreviate(v))}
		}
	}
	switch {
	case typ == "":
		return nil, &options.InvalidError{Option: prefix + ".executor", Err: fmt.Errorf("missing; use one of %s", strings.Join(executorTypes, ", "))}
	case typ == ExternallyControlledType:
		return nil, &options.InvalidError{Option: prefix + ".executor", Err: errors.New("the externally-controlled executor is not supported (k6 v2 dropped it too); use ramping-vus or ramping-arrival-rate")}
	}
	cfg := newConfig(name, typ)
	if cfg == nil {
		return nil, &options.InvalidError{Option: prefix + ".executor", Err: fmt.Errorf("unknown executor %q; use one of %s", typ, strings.Join(executorTypes, ", "))}
	}
	if err := decodeFields(cfg, prefix, fields); err != nil {
		return nil, err
	}
	errs := &configErrors{prefix: prefix + "."}
	cfg.Common().validateCommon(errs)
	cfg.validate(errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeFields decodes each field into cfg, rejecting unknown keys and
// recording which keys were present (for required options).
func decodeFields(cfg Config, prefix string, fields map[string]json.RawMessage) error {
	allowed := append(append([]string(nil), commonKeys...), cfg.keys()...)
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	v := reflect.ValueOf(cfg).Elem()
	for _, k := range names {
		if !contains(allowed, k) {
			return &options.InvalidError{Option: prefix + "." + k,
				Err: fmt.Errorf("unknown option for the %s executor; valid options are %s", cfg.Type(), strings.Join(allowed, ", "))}
		}
		val := bytes.TrimSpace(fields[k])
		if string(val) == "null" || k == "executor" {
			continue
		}
		f := fieldByTag(v, k)
		if !f.IsValid() {
			continue
		}
		ptr := reflect.New(f.Type())
		if err := json.Unmarshal(val, ptr.Interface()); err != nil {
			return &options.InvalidError{Option: prefix + "." + k, Err: fieldError(err, val, f.Type())}
		}
		f.Set(ptr.Elem())
		if p, ok := cfg.(interface{ setPresent(string) }); ok {
			p.setPresent(k)
		}
	}
	return nil
}

// fieldByTag finds the field with the JSON name key, looking into embedded
// structs.
func fieldByTag(v reflect.Value, key string) reflect.Value {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Anonymous {
			if sf.Type.Kind() == reflect.Struct {
				if f := fieldByTag(v.Field(i), key); f.IsValid() {
					return f
				}
			}
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == key {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

func fieldError(err error, val []byte, t reflect.Type) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	if te.Field != "" && te.Type != t {
		return fmt.Errorf("%s must be %s, got a JSON %s", te.Field, kindName(te.Type), te.Value)
	}
	return fmt.Errorf("%s is not %s", abbreviate(val), kindName(t))
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int64, reflect.Int:
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "an object of strings"
		}
		return "an object"
	case reflect.Slice:
		return "a list"
	case reflect.Struct:
		return "an object"
	}
	return t.String()
}

func abbreviate(b []byte) string {
	s := string(b)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// presence records which keys a scenario set explicitly.
type presence map[string]bool

func (p *presence) setPresent(k string) {
	if *p == nil {
		*p = presence{}
	}
	(*p)[k] = true
}

// Stage is one step of a ramping executor: move linearly to Target over
// Duration (a zero Duration jumps).
type Stage struct {
	Duration options.Duration `json:"duration"`
	Target   int64            `json:"target"`
}

// UnmarshalJSON decodes a stage, rejecting keys other than duration and
// target.
func (s *Stage) UnmarshalJSON(b []byte) error {
	type plain Stage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return fmt.Errorf("a stage has only duration and target: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return err
	}
	*s = Stage(p)
	return nil
}

func validateStages(errs *configErrors, stages []Stage) {
	if len(stages) == 0 {
		errs.add("stages", "at least one stage is required, e.g. [{duration: '30s', target: 10}]")
	}
	for i, s := range stages {
		if s.Duration < 0 {
			errs.add(fmt.Sprintf("stages[%d].duration", i), "must not be negative, got %s", s.Duration)
		}
		if s.Target < 0 {
			errs.add(fmt.Sprintf("stages[%d].target", i), "must not be negative, got %d", s.Target)
		}
	}
}

func stagesDuration(stages []Stage) time.Duration {
	var d time.Duration
	for _, s := range stages {
		d += s.Duration.D()
	}
	return d
}

// ConfigsJSON returns each config as JSON with its defaults filled in, keyed
// by scenario name: the "scenarios" k6 shows in test.options.
func ConfigsJSON(cfgs []Config) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(cfgs))
	for _, c := range cfgs {
		b, err := json.Marshal(c)
		if err != nil {
			continue
		}
		out[c.Name()] = b
	}
	return out
}
