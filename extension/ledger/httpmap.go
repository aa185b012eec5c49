package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// StatusSet is a set of HTTP statuses 0–999 (0 stands for "no response").
// The zero value is empty.
type StatusSet struct{ bits [16]uint64 }

// ParseStatusSet parses entries such as "402", "4xx", "500-599" or "0" into a
// set. Grammar: entry = status | digit "xx" | status "-" status, status = 0–999.
func ParseStatusSet(entries ...string) (StatusSet, error) {
	var s StatusSet
	for _, e := range entries {
		e = strings.TrimSpace(e)
		lo, hi, err := parseStatusRange(e)
		if err != nil {
			return StatusSet{}, fmt.Errorf("status %q: %w (want e.g. 402, 4xx or 500-599)", e, err)
		}
		for c := lo; c <= hi; c++ {
			s.Add(c)
		}
	}
	return s, nil
}

// MustStatusSet is ParseStatusSet for literals known to be valid; it panics on error.
func MustStatusSet(entries ...string) StatusSet {
	s, err := ParseStatusSet(entries...)
	if err != nil {
		panic(err)
	}
	return s
}

func parseStatusRange(e string) (int, int, error) {
	if len(e) == 3 && e[1:] == "xx" && e[0] >= '0' && e[0] <= '9' {
		c := int(e[0]-'0') * 100
		return c, c + 99, nil
	}
	if a, b, ok := strings.Cut(e, "-"); ok {
		lo, err1 := parseStatus(a)
		hi, err2 := parseStatus(b)
		if err := errors.Join(err1, err2); err != nil {
			return 0, 0, err
		}
		if lo > hi {
			return 0, 0, errors.New("empty range")
		}
		return lo, hi, nil
	}
	c, err := parseStatus(e)
	return c, c, err
}

func parseStatus(s string) (int, error) {
	c, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || c < 0 || c > 999 {
		return 0, errors.New("not a status between 0 and 999")
	}
	return c, nil
}

// Add puts status c into the set; statuses outside 0–999 are ignored.
func (s *StatusSet) Add(c int) {
	if c >= 0 && c < 1000 {
		s.bits[c/64] |= 1 << (c % 64)
	}
}

// Has reports whether status c is in the set.
func (s StatusSet) Has(c int) bool {
	return c >= 0 && c < 1000 && s.bits[c/64]&(1<<(c%64)) != 0
}

// Fields names the JSON fields of a deduction response body. A name may be a
// dotted path into nested objects ("data.remaining_credits"); an empty name
// disables the field.
type Fields struct {
	Balance string // balance after an ok, balance seen on a refusal
	Version string
	TxID    string
	Charged string
}

// DefaultFields are the credit API's names.
var DefaultFields = Fields{
	Balance: "remaining_credits",
	Version: "version",
	TxID:    "transaction_id",
	Charged: "credits_charged",
}

// Rules map an HTTP answer to an Outcome. A status is looked up in this
// order: Insufficient, Unknown, Rejected, OK; a status in none of them is
// Unknown (when in doubt, never claim a definite outcome).
type Rules struct {
	OK           StatusSet
	Insufficient StatusSet
	Rejected     StatusSet
	Unknown      StatusSet
	Fields       Fields
}

// DefaultRules are the credit API's: 2xx ok, 402 insufficient, 408 unknown,
// other 4xx rejected, everything else (no response, 1xx, 3xx, 5xx) unknown.
func DefaultRules() Rules {
	return Rules{
		OK:           MustStatusSet("2xx"),
		Insufficient: MustStatusSet("402"),
		Rejected:     MustStatusSet("4xx"),
		Unknown:      MustStatusSet("0", "408"),
		Fields:       DefaultFields,
	}
}

// HTTPResult is what a binding hands over from an HTTP response.
type HTTPResult struct {
	Status  int    // 0 when no response arrived
	Body    []byte // response body; may be empty
	Timeout bool   // the request timed out (as opposed to another transport error)
}

// Outcome maps an HTTP answer to an Outcome. Body fields that are missing or
// not whole numbers are left unset; a body that is not JSON leaves them all
// unset (a 200 with a garbled body is still ok, just without a balance).
func (r Rules) Outcome(res HTTPResult) Outcome {
	var body jsonObject
	if k := r.kind(res.Status); k == OK || k == Insufficient {
		body = parseBody(res.Body)
	}
	return r.OutcomeFields(res.Status, res.Timeout, body)
}

// OutcomeFields is Outcome for a body the caller already decoded (a JSON
// object as map[string]any; numbers may be float64, int64, json.Number or
// decimal strings). timeout says that no answer arrived in time.
func (r Rules) OutcomeFields(status int, timeout bool, body map[string]any) Outcome {
	o := Outcome{Kind: r.kind(status), Status: status}
	j := jsonObject(body)
	switch o.Kind {
	case Unknown:
		o.Cause = CauseError
		if status == 0 && timeout {
			o.Cause = CauseTimeout
		}
	case Insufficient:
		o.Balance, o.HasBalance = j.int(r.Fields.Balance)
	case OK:
		o.Balance, o.HasBalance = j.int(r.Fields.Balance)
		o.Version, o.HasVersion = j.int(r.Fields.Version)
		o.TxID, _ = j.str(r.Fields.TxID)
		o.Charged, o.HasCharged = j.int(r.Fields.Charged)
	}
	return o
}

// kind classifies a status by the rules' order.
func (r Rules) kind(status int) OutcomeKind {
	switch {
	case r.Insufficient.Has(status):
		return Insufficient
	case r.Unknown.Has(status):
		return Unknown
	case r.Rejected.Has(status):
		return Rejected
	case r.OK.Has(status):
		return OK
	}
	return Unknown
}

// jsonObject is a decoded JSON object with numbers kept exact.
type jsonObject map[string]any

func parseBody(b []byte) jsonObject {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if d.Decode(&m) != nil {
		return nil
	}
	return m
}

func (j jsonObject) lookup(path string) (any, bool) {
	if path == "" || j == nil {
		return nil, false
	}
	var cur any = map[string]any(j)
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func (j jsonObject) int(path string) (int64, bool) {
	v, ok := j.lookup(path)
	if !ok {
		return 0, false
	}
	return jsonInt(v)
}

func jsonInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, false
		}
		return int64(n), true
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		f, err := n.Float64()
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

func (j jsonObject) str(path string) (string, bool) {
	v, ok := j.lookup(path)
	if !ok {
		return "", false
	}
	switch s := v.(type) {
	case string:
		return s, true
	case json.Number:
		return s.String(), true
	case int64:
		return strconv.FormatInt(s, 10), true
	case float64:
		if s == math.Trunc(s) && math.Abs(s) <= 1<<53 {
			return strconv.FormatInt(int64(s), 10), true
		}
	}
	return "", false
}

func (j jsonObject) bool(path string) (bool, bool) {
	v, ok := j.lookup(path)
	if !ok {
		return false, false
	}
	b, ok := v.(bool)
	return b, ok
}

// ParseSnapshot reads a balance body of the credit API
// ({"remaining_credits" or "balance", "used_credits", "version",
// "low_balance_notified", "depleted_notified"}) into a Snapshot.
func ParseSnapshot(body []byte) (Snapshot, error) {
	j := parseBody(body)
	if j == nil {
		return Snapshot{}, fmt.Errorf("balance body is not a JSON object: %w", ErrBadOutcome)
	}
	var s Snapshot
	var ok bool
	if s.Balance, ok = j.int("remaining_credits"); !ok {
		if s.Balance, ok = j.int("balance"); !ok {
			return Snapshot{}, fmt.Errorf("balance body has no whole-number remaining_credits or balance: %w", ErrBadOutcome)
		}
	}
	s.Used, s.HasUsed = j.int("used_credits")
	s.Version, s.HasVersion = j.int("version")
	low, ok1 := j.bool("low_balance_notified")
	dep, ok2 := j.bool("depleted_notified")
	if ok1 && ok2 {
		s.LowNotified, s.DepletedNotified, s.HasFlags = low, dep, true
	}
	return s, nil
}

// ParseNotices reads the credit API's notifications body
// ({"notifications":[{"kind","remaining_credits","created_at"}]}).
func ParseNotices(body []byte) ([]Notice, error) {
	items, err := listField(body, "notifications")
	if err != nil {
		return nil, err
	}
	out := make([]Notice, 0, len(items))
	for i, it := range items {
		m := jsonObject(it)
		var n Notice
		n.Kind, _ = m.str("kind")
		if n.Kind == "" {
			return nil, fmt.Errorf("notification %d has no kind: %w", i, ErrBadOutcome)
		}
		n.Remaining, n.HasRemaining = m.int("remaining_credits")
		n.CreatedAt, _ = m.str("created_at")
		out = append(out, n)
	}
	return out, nil
}

// ParseServerLog reads the credit API's transactions body
// ({"transactions":[{"id","feature","amount","balance_after","idempotency_key","created_at"}]}).
// A valid JSON body is read in place (gjson): the records are not decoded
// into maps first (a teardown reads every account's whole log, pages of up
// to 1,000 records); anything else goes through parseServerLogMaps, which
// decodes the first JSON value of the body as before.
func ParseServerLog(body []byte) ([]LogTx, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return parseServerLogMaps(body)
	}
	list := gjson.GetBytes(b, "transactions")
	if !list.IsArray() {
		return nil, fmt.Errorf("transactions body has no %q list: %w", "transactions", ErrBadOutcome)
	}
	items := list.Array()
	out := make([]LogTx, 0, len(items))
	for i, it := range items {
		if !it.IsObject() {
			return nil, fmt.Errorf("transactions[%d] is not an object: %w", i, ErrBadOutcome)
		}
		// The fields of logFields, in one pass; of a repeated key, the last, as a map has it.
		var f [6]gjson.Result
		it.ForEach(func(k, v gjson.Result) bool {
			if n := slices.Index(logFields[:], k.Str); n >= 0 {
				f[n] = v
			}
			return true
		})
		var t LogTx
		var ok bool
		t.ID, _ = gjsonStr(f[0])
		if t.Amount, ok = gjsonInt(f[1]); !ok {
			return nil, fmt.Errorf("transaction %d (id %q) has no whole-number amount: %w", i, t.ID, ErrBadOutcome)
		}
		t.Feature, _ = gjsonStr(f[2])
		t.BalanceAfter, t.HasBalance = gjsonInt(f[3])
		t.Key, _ = gjsonStr(f[4])
		t.CreatedAt, _ = gjsonStr(f[5])
		out = append(out, t)
	}
	return out, nil
}

// logFields are the fields of a transaction record ParseServerLog reads.
var logFields = [6]string{"id", "amount", "feature", "balance_after", "idempotency_key", "created_at"}

// gjsonStr reads a string field as jsonObject.str does: a string, or a
// number's text as written.
func gjsonStr(r gjson.Result) (string, bool) {
	switch r.Type {
	case gjson.String:
		return r.Str, true
	case gjson.Number:
		return r.Raw, true
	}
	return "", false
}

// gjsonInt reads a whole number as jsonInt does with a json.Number or a
// string: a decimal integer, or a whole float of at most 2^53.
func gjsonInt(r gjson.Result) (int64, bool) {
	switch r.Type {
	case gjson.Number:
		return jsonInt(json.Number(r.Raw))
	case gjson.String:
		return jsonInt(r.Str)
	}
	return 0, false
}

// parseServerLogMaps is ParseServerLog through encoding/json's maps.
func parseServerLogMaps(body []byte) ([]LogTx, error) {
	items, err := listField(body, "transactions")
	if err != nil {
		return nil, err
	}
	out := make([]LogTx, 0, len(items))
	for i, it := range items {
		m := jsonObject(it)
		var t LogTx
		var ok bool
		t.ID, _ = m.str("id")
		if t.Amount, ok = m.int("amount"); !ok {
			return nil, fmt.Errorf("transaction %d (id %q) has no whole-number amount: %w", i, t.ID, ErrBadOutcome)
		}
		t.Feature, _ = m.str("feature")
		t.BalanceAfter, t.HasBalance = m.int("balance_after")
		t.Key, _ = m.str("idempotency_key")
		t.CreatedAt, _ = m.str("created_at")
		out = append(out, t)
	}
	return out, nil
}

func listField(body []byte, field string) ([]map[string]any, error) {
	j := parseBody(body)
	if j == nil {
		return nil, fmt.Errorf("%s body is not a JSON object: %w", field, ErrBadOutcome)
	}
	raw, ok := j[field].([]any)
	if !ok {
		return nil, fmt.Errorf("%s body has no %q list: %w", field, field, ErrBadOutcome)
	}
	out := make([]map[string]any, 0, len(raw))
	for i, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s[%d] is not an object: %w", field, i, ErrBadOutcome)
		}
		out = append(out, m)
	}
	return out, nil
}
