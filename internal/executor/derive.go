package executor

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/tallyhq/tally/internal/options"
)

// Derive turns consolidated options into validated scenario configs, in the
// order of their names. The shortcut options become the scenario "default":
//
//	nothing set                     per-vu-iterations, 1 VU, 1 iteration
//	iterations (+vus, +duration)    shared-iterations (duration → maxDuration)
//	duration (+vus)                 constant-vus
//	stages (+vus as startVUs)       ramping-vus
//	only vus                        shared-iterations with iterations = vus
//
// vus next to scenarios is ignored (scenarios win; the engine clears the
// scenarios itself when --vus alone comes from a higher layer). iterations
// or duration next to stages, and iterations, duration or stages next to
// scenarios, are conflicts. exported reports whether the script exports a
// function; a scenario whose exec is not exported is invalid (nil exported
// skips that check). All errors are *options.InvalidError naming the option
// (joined with errors.Join when there are several); the CLI maps them to
// exit code 104.
func Derive(o options.Options, exported func(name string) bool) ([]Config, error) {
	cfgs, err := derive(o)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, c := range cfgs {
		if exec := c.Common().Exec; exported != nil && !exported(exec) {
			errs = append(errs, &options.InvalidError{Option: "scenarios." + c.Name() + ".exec",
				Err: fmt.Errorf("function %q is not exported by the script; export it or name another function", exec)})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfgs, nil
}

// shortcutAlias names the options of a shortcut-derived scenario after the
// shortcut options users actually wrote.
var shortcutAlias = map[string]string{"maxDuration": "duration", "startVUs": "vus"}

func conflict(a, b string) error {
	return &options.InvalidError{Option: a, Err: fmt.Errorf("cannot be used together with %q in the same place (script options, config file, environment or flags); keep one of them", b)}
}

func derive(o options.Options) ([]Config, error) {
	var c Config
	switch {
	case o.Iterations != nil:
		if len(o.Stages) > 0 {
			return nil, conflict("iterations", "stages")
		}
		if o.Scenarios != nil {
			return nil, conflict("iterations", "scenarios")
		}
		sc := newSharedIterationsConfig(DefaultScenarioName)
		sc.VUs = options.Int(o.VUs, 1)
		sc.Iterations = *o.Iterations
		if o.Duration != nil {
			sc.MaxDuration = *o.Duration
		}
		c = sc
	case o.Duration != nil:
		if len(o.Stages) > 0 {
			return nil, conflict("duration", "stages")
		}
		if o.Scenarios != nil {
			return nil, conflict("duration", "scenarios")
		}
		if o.Duration.D() <= 0 {
			return nil, &options.InvalidError{Option: "duration", Err: fmt.Errorf("must be greater than 0, got %s", o.Duration)}
		}
		cv := newConstantVUsConfig(DefaultScenarioName)
		cv.VUs = options.Int(o.VUs, 1)
		cv.Duration = *o.Duration
		cv.setPresent("duration")
		c = cv
	case len(o.Stages) > 0:
		if o.Scenarios != nil {
			return nil, conflict("stages", "scenarios")
		}
		rv := newRampingVUsConfig(DefaultScenarioName)
		rv.StartVUs = options.Int(o.VUs, 1)
		for _, s := range o.Stages {
			rv.Stages = append(rv.Stages, Stage{Duration: s.Duration, Target: s.Target})
		}
		c = rv
	case o.VUs != nil && o.Scenarios == nil:
		sc := newSharedIterationsConfig(DefaultScenarioName)
		sc.VUs, sc.Iterations = *o.VUs, *o.VUs
		c = sc
	case len(o.Scenarios) > 0:
		return parseScenarios(o.Scenarios)
	default:
		c = newPerVUIterationsConfig(DefaultScenarioName)
	}
	errs := &configErrors{alias: shortcutAlias}
	c.validate(errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return []Config{c}, nil
}

func parseScenarios(raw map[string]json.RawMessage) ([]Config, error) {
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	var cfgs []Config
	var errs []error
	for _, n := range names {
		c, err := ParseConfig(n, raw[n])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfgs = append(cfgs, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfgs, nil
}

// ShortcutWarnings returns warnings about consolidated options that Derive
// accepts but that probably do not do what the user meant.
func ShortcutWarnings(o options.Options) []string {
	var w []string
	if o.Iterations == nil && o.Duration == nil && o.Stages != nil && len(o.Stages) == 0 && o.Scenarios == nil {
		w = append(w, "stages is set to an empty list: running 1 iteration with 1 VU")
	}
	if o.Scenarios != nil && len(o.Scenarios) == 0 && o.Iterations == nil && o.Duration == nil && len(o.Stages) == 0 && o.VUs == nil {
		w = append(w, "scenarios is set to an empty object: running 1 iteration with 1 VU")
	}
	if len(o.Scenarios) > 0 && o.VUs != nil && o.Iterations == nil && o.Duration == nil && len(o.Stages) == 0 {
		w = append(w, "vus is ignored because scenarios are defined; set VUs inside each scenario")
	}
	return w
}
