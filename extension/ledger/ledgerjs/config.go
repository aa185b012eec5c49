package ledgerjs

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/extension/ledger"
)

// settings are the options of ledger.configure(). The zero value is the
// defaults; values are comparable, so that repeated calls can be checked
// for agreement.
type settings struct {
	run, instance, host string
	low                 int64 // 0: ledger.DefaultLowThreshold; negative: no low-balance rule
	overdraft           bool
	amountSign          ledger.AmountSign
	settle              time.Duration
	clockBound          time.Duration
	journal             string
	rules               ledger.Rules
	hasRules            bool
	allowUnopened       bool
	shared              bool
}

// diff names the settings that differ, for error messages.
func (s settings) diff(o settings) string {
	var d []string
	add := func(name string, a, b any) {
		if a != b {
			d = append(d, fmt.Sprintf("%s %v vs %v", name, show(a), show(b)))
		}
	}
	add("run", s.run, o.run)
	add("instance", s.instance, o.instance)
	add("host", s.host, o.host)
	add("lowThreshold", s.low, o.low)
	add("overdraft", s.overdraft, o.overdraft)
	add("amountSign", s.amountSign, o.amountSign)
	add("settleMs", s.settle, o.settle)
	add("clockBoundMs", s.clockBound, o.clockBound)
	add("journal", s.journal, o.journal)
	add("allowUnopened", s.allowUnopened, o.allowUnopened)
	add("shared", s.shared, o.shared)
	if s.hasRules != o.hasRules || s.rules != o.rules {
		d = append(d, "rules differ")
	}
	return strings.Join(d, ", ")
}

func show(v any) any {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return v
}

var configKeys = []string{"run", "instance", "host", "lowThreshold", "overdraft", "amountSign", "settleMs", "clockBoundMs", "journal", "rules", "allowUnopened", "shared"}

// parseSettings reads the object given to ledger.configure().
func parseSettings(rt *sobek.Runtime, v sobek.Value) (settings, error) {
	var s settings
	if isNothing(v) {
		return s, nil
	}
	obj, ok := v.(*sobek.Object)
	if !ok {
		return s, fmt.Errorf("want an object of settings, got %s", describe(v))
	}
	for _, k := range obj.Keys() {
		val := obj.Get(k)
		if isNothing(val) {
			continue
		}
		var err error
		switch k {
		case "run":
			s.run, err = idString(k, val)
		case "instance":
			s.instance, err = idString(k, val)
		case "host":
			s.host, err = stringValue(k, val)
		case "lowThreshold":
			s.low, err = intValue(k, val)
		case "overdraft":
			s.overdraft, err = boolValue(k, val)
		case "amountSign":
			var str string
			if str, err = stringValue(k, val); err == nil {
				s.amountSign, err = ledger.ParseAmountSign(str)
			}
		case "allowUnopened":
			s.allowUnopened, err = boolValue(k, val)
		case "shared":
			s.shared, err = boolValue(k, val)
		case "settleMs":
			s.settle, err = msValue(k, val)
		case "clockBoundMs":
			s.clockBound, err = msValue(k, val)
		case "journal":
			s.journal, err = stringValue(k, val)
		case "rules":
			s.rules, err = parseRules(rt, val)
			s.hasRules = true
		default:
			err = fmt.Errorf("unknown setting %q (known: %s)", k, strings.Join(configKeys, ", "))
		}
		if err != nil {
			return settings{}, err
		}
	}
	return s, nil
}

// idString reads a run id or instance name: non-empty text without
// whitespace (it becomes part of every idempotency key).
func idString(name string, v sobek.Value) (string, error) {
	s, err := stringValue(name, v)
	if err != nil {
		return "", err
	}
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return "", fmt.Errorf("%s %q: want non-empty text without spaces (it is part of every idempotency key)", name, s)
	}
	return s, nil
}

var ruleKeys = []string{"ok", "insufficient", "rejected", "unknown", "fields"}

// parseRules reads rules: each status set given replaces the default one;
// fields given replace the default body field names.
func parseRules(rt *sobek.Runtime, v sobek.Value) (ledger.Rules, error) {
	r := ledger.DefaultRules()
	obj, ok := v.(*sobek.Object)
	if !ok || isArray(obj) {
		return r, fmt.Errorf("rules: want an object such as {insufficient: ['402'], rejected: ['4xx'], unknown: ['5xx']}, got %s", describe(v))
	}
	for _, k := range obj.Keys() {
		val := obj.Get(k)
		if isNothing(val) {
			continue
		}
		var err error
		switch k {
		case "ok":
			r.OK, err = statusSet(rt, k, val)
		case "insufficient":
			r.Insufficient, err = statusSet(rt, k, val)
		case "rejected":
			r.Rejected, err = statusSet(rt, k, val)
		case "unknown":
			r.Unknown, err = statusSet(rt, k, val)
		case "fields":
			r.Fields, err = parseFields(val)
		default:
			err = fmt.Errorf("unknown key %q (known: %s)", k, strings.Join(ruleKeys, ", "))
		}
		if err != nil {
			return r, fmt.Errorf("rules: %w", err)
		}
	}
	return r, nil
}

// statusSet reads a status set: a string ("402", "4xx", "500-599"), a
// number, or an array of them.
func statusSet(rt *sobek.Runtime, name string, v sobek.Value) (ledger.StatusSet, error) {
	var entries []string
	add := func(e sobek.Value) error {
		switch e.ExportType() {
		case typeString:
			entries = append(entries, e.String())
		case typeInt, typeFloat:
			f := e.ToFloat()
			if f != math.Trunc(f) {
				return fmt.Errorf("%s: status %v is not a whole number", name, f)
			}
			entries = append(entries, fmt.Sprint(int64(f)))
		default:
			return fmt.Errorf("%s: want status strings such as '402', '4xx' or '500-599', got %s", name, describe(e))
		}
		return nil
	}
	if obj, ok := v.(*sobek.Object); ok && isArray(obj) {
		var err error
		rt.ForOf(obj, func(e sobek.Value) bool {
			err = add(e)
			return err == nil
		})
		if err != nil {
			return ledger.StatusSet{}, err
		}
	} else if err := add(v); err != nil {
		return ledger.StatusSet{}, err
	}
	set, err := ledger.ParseStatusSet(entries...)
	if err != nil {
		return set, fmt.Errorf("%s: %w", name, err)
	}
	return set, nil
}

var fieldKeys = []string{"balanceAfter", "balance", "version", "txId", "charged"}

// parseFields reads the body field names. balanceAfter and balance name the
// same field (the balance after an ok, the balance seen on a refusal).
func parseFields(v sobek.Value) (ledger.Fields, error) {
	f := ledger.DefaultFields
	obj, ok := v.(*sobek.Object)
	if !ok {
		return f, fmt.Errorf("fields: want an object such as {balanceAfter: 'remaining_credits'}, got %s", describe(v))
	}
	var bal, balAfter *string
	for _, k := range obj.Keys() {
		val := obj.Get(k)
		if isNothing(val) {
			continue
		}
		s, err := stringValue("fields."+k, val)
		if err != nil {
			return f, err
		}
		switch k {
		case "balanceAfter":
			balAfter = &s
		case "balance":
			bal = &s
		case "version":
			f.Version = s
		case "txId":
			f.TxID = s
		case "charged":
			f.Charged = s
		default:
			return f, fmt.Errorf("fields: unknown key %q (known: %s)", k, strings.Join(fieldKeys, ", "))
		}
	}
	switch {
	case bal != nil && balAfter != nil && *bal != *balAfter:
		return f, fmt.Errorf("fields: balance %q and balanceAfter %q must name the same field (the balance after an ok is also the balance seen on a refusal)", *bal, *balAfter)
	case bal != nil:
		f.Balance = *bal
	case balAfter != nil:
		f.Balance = *balAfter
	}
	return f, nil
}

// msValue reads a non-negative number of milliseconds.
func msValue(name string, v sobek.Value) (time.Duration, error) {
	if t := v.ExportType(); t != typeInt && t != typeFloat {
		return 0, fmt.Errorf("%s: want a number of milliseconds, got %s", name, describe(v))
	}
	f := v.ToFloat()
	if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%s: want a number of milliseconds >= 0, got %v", name, f)
	}
	return time.Duration(f * float64(time.Millisecond)), nil
}
