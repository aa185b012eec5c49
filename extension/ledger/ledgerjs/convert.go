package ledgerjs

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/extension/ledger"
)

var (
	typeInt    = reflect.TypeOf(int64(0))
	typeFloat  = reflect.TypeOf(float64(0))
	typeString = reflect.TypeOf("")
	typeBool   = reflect.TypeOf(false)
)

// errorCodeTimeout is k6's Response.error_code of a request whose timeout
// expired.
const errorCodeTimeout = 1050

// maxSafe is the largest integer a JS number holds exactly.
const maxSafe = 1<<53 - 1

func isNothing(v sobek.Value) bool {
	return v == nil || sobek.IsUndefined(v) || sobek.IsNull(v)
}

func isArray(o *sobek.Object) bool { return o.ClassName() == "Array" }

// describe names a JS value in error messages.
func describe(v sobek.Value) string {
	switch {
	case v == nil || sobek.IsUndefined(v):
		return "undefined"
	case sobek.IsNull(v):
		return "null"
	}
	switch v.ExportType() {
	case typeString:
		s := v.String()
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return strconv.Quote(s)
	case typeInt, typeFloat:
		return "the number " + v.String()
	case typeBool:
		return "the boolean " + v.String()
	}
	if o, ok := v.(*sobek.Object); ok {
		if isArray(o) {
			return "an array"
		}
		if _, ok := sobek.AssertFunction(v); ok {
			return "a function"
		}
		return "an object"
	}
	return v.String()
}

func stringValue(name string, v sobek.Value) (string, error) {
	if v.ExportType() != typeString {
		return "", fmt.Errorf("%s: want a string, got %s", name, describe(v))
	}
	return v.String(), nil
}

func boolValue(name string, v sobek.Value) (bool, error) {
	if v.ExportType() != typeBool {
		return false, fmt.Errorf("%s: want true or false, got %s", name, describe(v))
	}
	return v.ToBoolean(), nil
}

// intValue reads a whole number (a JS number without a fraction, within
// ±2^53).
func intValue(name string, v sobek.Value) (int64, error) {
	switch v.ExportType() {
	case typeInt:
		return v.ToInteger(), nil
	case typeFloat:
		f := v.ToFloat()
		if f == math.Trunc(f) && math.Abs(f) <= maxSafe {
			return int64(f), nil
		}
		return 0, fmt.Errorf("%s: want a whole number, got %v", name, f)
	}
	return 0, fmt.Errorf("%s: want a whole number, got %s", name, describe(v))
}

// idValue reads an identifier that may be a string or a whole number.
func idValue(name string, v sobek.Value) (string, error) {
	switch v.ExportType() {
	case typeString:
		return v.String(), nil
	case typeInt, typeFloat:
		n, err := intValue(name, v)
		return strconv.FormatInt(n, 10), err
	}
	return "", fmt.Errorf("%s: want a string or a number, got %s", name, describe(v))
}

// bytesOf returns the bytes of a body: a string (viewed in place; the
// caller must not keep or change the slice) or an ArrayBuffer; nil for null.
func bytesOf(v sobek.Value) ([]byte, bool) {
	if isNothing(v) {
		return nil, true
	}
	if v.ExportType() == typeString {
		s := v.String()
		return unsafe.Slice(unsafe.StringData(s), len(s)), true
	}
	if ab, ok := v.Export().(sobek.ArrayBuffer); ok {
		return ab.Bytes(), true
	}
	return nil, false
}

// responseLike reports whether obj looks like a k6 http Response (a status
// and no outcome or balance of its own).
func responseLike(obj *sobek.Object) bool {
	st := obj.Get("status")
	if isNothing(st) || !isNothing(obj.Get("outcome")) || !isNothing(obj.Get("balance")) {
		return false
	}
	t := st.ExportType()
	return t == typeInt || t == typeFloat
}

// httpResult reads what the ledger needs from a Response: status, body and
// whether the request timed out (error_code 1050).
func httpResult(obj *sobek.Object) (ledger.HTTPResult, error) {
	var res ledger.HTTPResult
	st, err := intValue("status", obj.Get("status"))
	if err != nil {
		return res, err
	}
	res.Status = int(st)
	if ec := obj.Get("error_code"); !isNothing(ec) {
		res.Timeout = ec.ToInteger() == errorCodeTimeout
	}
	body, ok := bytesOf(obj.Get("body"))
	if !ok {
		return res, fmt.Errorf("body: want a string, an ArrayBuffer or null, got %s", describe(obj.Get("body")))
	}
	res.Body = body
	return res, nil
}

// okBody returns the body of a successful Response, or an error naming the
// status (and the start of the body) when the request failed.
func okBody(obj *sobek.Object, what string) ([]byte, error) {
	res, err := httpResult(obj)
	if err != nil {
		return nil, err
	}
	if res.Status < 200 || res.Status > 299 {
		return nil, fmt.Errorf("the %s response has status %d, not 2xx%s", what, res.Status, bodyHint(res))
	}
	if res.Body == nil {
		return nil, fmt.Errorf("the %s response has no body (discardResponseBodies or responseType 'none'?)", what)
	}
	return res.Body, nil
}

func bodyHint(res ledger.HTTPResult) string {
	if res.Status == 0 {
		if res.Timeout {
			return " (the request timed out)"
		}
		return " (no response: connection error)"
	}
	b := strings.TrimSpace(string(res.Body))
	if b == "" {
		return ""
	}
	if len(b) > 120 {
		b = b[:120] + "..."
	}
	return ": " + b
}

// snapshotArg reads a snapshot: a Response of the balance or create-user
// endpoint, or an object {balance, used?, version?, lowNotified?,
// depletedNotified?} (the API's names remaining_credits, used_credits,
// low_balance_notified and depleted_notified are accepted too, so that
// res.json() can be passed; other keys are ignored).
func snapshotArg(v sobek.Value) (ledger.Snapshot, error) {
	obj, ok := v.(*sobek.Object)
	if !ok || isArray(obj) {
		return ledger.Snapshot{}, fmt.Errorf("want a snapshot {balance, used?, version?, lowNotified?, depletedNotified?} or a balance Response, got %s", describe(v))
	}
	if responseLike(obj) {
		body, err := okBody(obj, "balance")
		if err != nil {
			return ledger.Snapshot{}, err
		}
		return ledger.ParseSnapshot(body)
	}
	var s ledger.Snapshot
	var err error
	get := func(names ...string) (sobek.Value, string) {
		for _, n := range names {
			if x := obj.Get(n); !isNothing(x) {
				return x, n
			}
		}
		return nil, names[0]
	}
	b, name := get("balance", "remaining_credits")
	if b == nil {
		return s, fmt.Errorf("the snapshot has no balance (want {balance: 100, ...})")
	}
	if s.Balance, err = intValue(name, b); err != nil {
		return s, err
	}
	if u, name := get("used", "used_credits"); u != nil {
		if s.Used, err = intValue(name, u); err != nil {
			return s, err
		}
		s.HasUsed = true
	}
	if ver, name := get("version"); ver != nil {
		if s.Version, err = intValue(name, ver); err != nil {
			return s, err
		}
		s.HasVersion = true
	}
	low, lowName := get("lowNotified", "low_balance_notified")
	dep, depName := get("depletedNotified", "depleted_notified")
	switch {
	case low != nil && dep != nil:
		if s.LowNotified, err = boolValue(lowName, low); err != nil {
			return s, err
		}
		if s.DepletedNotified, err = boolValue(depName, dep); err != nil {
			return s, err
		}
		s.HasFlags = true
	case low != nil || dep != nil:
		return s, fmt.Errorf("give both lowNotified and depletedNotified, or neither (one flag alone cannot be checked)")
	}
	return s, nil
}

// Keys of an outcome object, by kind.
var outcomeKeys = map[ledger.OutcomeKind][]string{
	ledger.OK:           {"outcome", "balanceAfter", "version", "txId", "charged"},
	ledger.Insufficient: {"outcome", "balanceSeen"},
	ledger.Rejected:     {"outcome", "status"},
	ledger.Unknown:      {"outcome", "cause", "status"},
}

// outcomeArg reads an outcome object: {outcome: 'ok', balanceAfter?,
// version?, txId?, charged?} | {outcome: 'insufficient', balanceSeen?} |
// {outcome: 'rejected', status?} | {outcome: 'unknown', cause?, status?}.
// With strict, keys that do not belong to the outcome are an error (a
// misspelt field would silently weaken the checks); listing an object's
// keys is the costly part, so the hot path checks only some calls.
func outcomeArg(obj *sobek.Object, strict bool) (ledger.Outcome, error) {
	var o ledger.Outcome
	kv := obj.Get("outcome")
	if isNothing(kv) || kv.ExportType() != typeString {
		return o, fmt.Errorf("outcome: want 'ok', 'insufficient', 'rejected' or 'unknown', got %s", describe(kv))
	}
	kind, err := ledger.ParseOutcomeKind(kv.String())
	if err != nil {
		return o, err
	}
	o.Kind = kind
	if strict {
		for _, k := range obj.Keys() {
			if !slices.Contains(outcomeKeys[kind], k) && !isNothing(obj.Get(k)) {
				return o, fmt.Errorf("%q does not belong to a %q outcome (keys: %s)", k, kind, strings.Join(outcomeKeys[kind], ", "))
			}
		}
	}
	switch kind {
	case ledger.OK:
		err = okOutcome(obj, &o)
	case ledger.Insufficient:
		err = intField(obj, "balanceSeen", &o.Balance, &o.HasBalance)
	default: // rejected, unknown
		err = failedOutcome(obj, &o)
	}
	return o, err
}

// intField reads the optional integer obj[name] into *dst and sets *has
// when it is there.
func intField(obj *sobek.Object, name string, dst *int64, has *bool) error {
	v := obj.Get(name)
	if isNothing(v) {
		return nil
	}
	n, err := intValue(name, v)
	if err != nil {
		return err
	}
	*dst, *has = n, true
	return nil
}

// okOutcome reads the fields of an 'ok' outcome: balanceAfter, version,
// charged (>= 0) and txId, each optional.
func okOutcome(obj *sobek.Object, o *ledger.Outcome) error {
	if err := intField(obj, "balanceAfter", &o.Balance, &o.HasBalance); err != nil {
		return err
	}
	if err := intField(obj, "version", &o.Version, &o.HasVersion); err != nil {
		return err
	}
	if err := intField(obj, "charged", &o.Charged, &o.HasCharged); err != nil {
		return err
	}
	if o.Charged < 0 {
		return fmt.Errorf("charged: want credits >= 0, got %d", o.Charged)
	}
	if v := obj.Get("txId"); !isNothing(v) {
		id, err := idValue("txId", v)
		if err != nil {
			return err
		}
		o.TxID = id
	}
	return nil
}

// failedOutcome reads the fields of a 'rejected' or 'unknown' outcome: the
// status, and for unknown the cause (default: error).
func failedOutcome(obj *sobek.Object, o *ledger.Outcome) error {
	var status int64
	var has bool
	if err := intField(obj, "status", &status, &has); err != nil {
		return err
	}
	o.Status = int(status)
	if o.Kind != ledger.Unknown {
		return nil
	}
	o.Cause = ledger.CauseError
	if v := obj.Get("cause"); !isNothing(v) {
		c, err := stringValue("cause", v)
		if err != nil {
			return err
		}
		if o.Cause, err = ledger.ParseCause(c); err != nil {
			return err
		}
	}
	return nil
}

// noticesArg reads notices: a Response of GET /credits/notifications, or an
// array of {kind, remaining_credits?, created_at?} (camelCase remaining and
// createdAt are accepted too).
func noticesArg(rt *sobek.Runtime, v sobek.Value) ([]ledger.Notice, error) {
	obj, ok := v.(*sobek.Object)
	if !ok {
		return nil, fmt.Errorf("want a notifications Response or an array of {kind, remaining_credits, created_at}, got %s", describe(v))
	}
	if !isArray(obj) {
		if !responseLike(obj) {
			return nil, fmt.Errorf("want a notifications Response or an array of {kind, remaining_credits, created_at}, got an object without a status")
		}
		body, err := okBody(obj, "notifications")
		if err != nil {
			return nil, err
		}
		return ledger.ParseNotices(body)
	}
	var out []ledger.Notice
	var err error
	i := 0
	rt.ForOf(obj, func(e sobek.Value) bool {
		var n ledger.Notice
		n, err = noticeItem(e)
		if err != nil {
			err = fmt.Errorf("notice [%d]: %w", i, err)
			return false
		}
		out = append(out, n)
		i++
		return true
	})
	return out, err
}

func noticeItem(v sobek.Value) (ledger.Notice, error) {
	var n ledger.Notice
	obj, ok := v.(*sobek.Object)
	if !ok {
		return n, fmt.Errorf("want {kind, remaining_credits, created_at}, got %s", describe(v))
	}
	k := obj.Get("kind")
	if isNothing(k) {
		return n, fmt.Errorf("no kind (want 'low_balance' or 'depleted')")
	}
	var err error
	if n.Kind, err = stringValue("kind", k); err != nil {
		return n, err
	}
	for _, name := range []string{"remaining_credits", "remaining"} {
		if r := obj.Get(name); !isNothing(r) {
			if n.Remaining, err = intValue(name, r); err != nil {
				return n, err
			}
			n.HasRemaining = true
			break
		}
	}
	for _, name := range []string{"created_at", "createdAt"} {
		if c := obj.Get(name); !isNothing(c) {
			n.CreatedAt = c.String()
			break
		}
	}
	return n, nil
}

// logArg reads transactions: a Response of GET /credits/transactions (one
// page), or an array of {id, feature, amount, balance_after?,
// idempotency_key?, created_at?} (camelCase balanceAfter, key and createdAt
// are accepted too).
func logArg(rt *sobek.Runtime, v sobek.Value) ([]ledger.LogTx, error) {
	obj, ok := v.(*sobek.Object)
	if !ok {
		return nil, fmt.Errorf("want a transactions Response or an array of {id, feature, amount, balance_after, idempotency_key}, got %s", describe(v))
	}
	if !isArray(obj) {
		if !responseLike(obj) {
			return nil, fmt.Errorf("want a transactions Response or an array of {id, feature, amount, balance_after, idempotency_key}, got an object without a status")
		}
		body, err := okBody(obj, "transactions")
		if err != nil {
			return nil, err
		}
		return ledger.ParseServerLog(body)
	}
	var out []ledger.LogTx
	var err error
	i := 0
	rt.ForOf(obj, func(e sobek.Value) bool {
		var t ledger.LogTx
		t, err = logItem(e)
		if err != nil {
			err = fmt.Errorf("transaction [%d]: %w", i, err)
			return false
		}
		out = append(out, t)
		i++
		return true
	})
	return out, err
}

func logItem(v sobek.Value) (ledger.LogTx, error) {
	var t ledger.LogTx
	obj, ok := v.(*sobek.Object)
	if !ok {
		return t, fmt.Errorf("want {id, feature, amount, balance_after, idempotency_key}, got %s", describe(v))
	}
	first := func(names ...string) (sobek.Value, string) {
		for _, n := range names {
			if x := obj.Get(n); !isNothing(x) {
				return x, n
			}
		}
		return nil, names[0]
	}
	var err error
	if x, n := first("id"); x != nil {
		if t.ID, err = idValue(n, x); err != nil {
			return t, err
		}
	}
	a, n := first("amount")
	if a == nil {
		return t, fmt.Errorf("no amount")
	}
	if t.Amount, err = intValue(n, a); err != nil {
		return t, err
	}
	if x, n := first("feature"); x != nil {
		if t.Feature, err = stringValue(n, x); err != nil {
			return t, err
		}
	}
	if x, n := first("balance_after", "balanceAfter"); x != nil {
		if t.BalanceAfter, err = intValue(n, x); err != nil {
			return t, err
		}
		t.HasBalance = true
	}
	if x, n := first("idempotency_key", "key"); x != nil {
		if t.Key, err = stringValue(n, x); err != nil {
			return t, err
		}
	}
	if x, _ := first("created_at", "createdAt"); x != nil {
		t.CreatedAt = x.String()
	}
	return t, nil
}
