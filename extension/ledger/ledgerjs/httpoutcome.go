package ledgerjs

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/tallyhq/tally/extension/ledger"
)

// outcomeReader maps HTTP answers to outcomes exactly as ledger.Rules.Outcome
// does, but reads the body's few fields in place (gjson) instead of decoding
// the whole body: settleHttp is on every deduction's path.
type outcomeReader struct {
	rules                          ledger.Rules
	balance, version, txID, charge string // gjson paths; "" when the field is disabled
}

func newOutcomeReader(r ledger.Rules) *outcomeReader {
	return &outcomeReader{rules: r,
		balance: gjsonPath(r.Fields.Balance), version: gjsonPath(r.Fields.Version),
		txID: gjsonPath(r.Fields.TxID), charge: gjsonPath(r.Fields.Charged)}
}

// gjsonPath turns a dotted field path into a gjson path, escaping gjson's
// special characters in each part.
func gjsonPath(p string) string {
	if p == "" {
		return ""
	}
	parts := strings.Split(p, ".")
	for i, s := range parts {
		parts[i] = gjson.Escape(s)
	}
	return strings.Join(parts, ".")
}

// outcome maps res like Rules.Outcome: the status decides the kind; an ok or
// insufficient answer's body (a JSON object) gives the fields, and a body
// that is not a valid JSON object gives none.
func (r *outcomeReader) outcome(res ledger.HTTPResult) ledger.Outcome {
	o := r.rules.OutcomeFields(res.Status, res.Timeout, nil)
	if o.Kind != ledger.OK && o.Kind != ledger.Insufficient {
		return o
	}
	body := bytes.TrimSpace(res.Body)
	if len(body) == 0 || body[0] != '{' || !gjson.ValidBytes(body) {
		return o
	}
	o.Balance, o.HasBalance = jsonInt(body, r.balance)
	if o.Kind == ledger.OK {
		o.Version, o.HasVersion = jsonInt(body, r.version)
		o.TxID = jsonStr(body, r.txID)
		o.Charged, o.HasCharged = jsonInt(body, r.charge)
	}
	return o
}

// jsonInt reads a whole number: a JSON number without a fraction (exact up
// to int64, or a float within ±2^53) or a decimal string.
func jsonInt(body []byte, path string) (int64, bool) {
	if path == "" {
		return 0, false
	}
	v := gjson.GetBytes(body, path)
	switch v.Type {
	case gjson.Number:
		if n, err := strconv.ParseInt(v.Raw, 10, 64); err == nil {
			return n, true
		}
		f, err := strconv.ParseFloat(v.Raw, 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	case gjson.String:
		n, err := strconv.ParseInt(v.Str, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// jsonStr reads a string, or a number as written.
func jsonStr(body []byte, path string) string {
	if path == "" {
		return ""
	}
	v := gjson.GetBytes(body, path)
	switch v.Type {
	case gjson.String:
		return v.Str
	case gjson.Number:
		return v.Raw
	}
	return ""
}
