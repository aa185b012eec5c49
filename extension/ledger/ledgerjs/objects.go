package ledgerjs

import (
	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/extension/ledger"
)

// opObject is the JS handle of a deduction, {id, key, account, feature,
// amount}: read-only, JSON-serializable, and recognised by settle() and
// settleReplay(). Properties are converted when read.
type opObject struct {
	rt *sobek.Runtime
	op ledger.Op
}

var opKeys = []string{"id", "key", "account", "feature", "amount"}

var _ sobek.DynamicObject = (*opObject)(nil)

func (o *opObject) Get(k string) sobek.Value {
	switch k {
	case "id":
		return o.rt.ToValue(o.op.ID)
	case "key":
		return o.rt.ToValue(o.op.Key)
	case "account":
		return o.rt.ToValue(o.op.Account)
	case "feature":
		return o.rt.ToValue(o.op.Feature)
	case "amount":
		return o.rt.ToValue(o.op.Amount)
	}
	return nil
}

func (o *opObject) Set(string, sobek.Value) bool { return false }
func (o *opObject) Delete(string) bool           { return false }
func (o *opObject) Keys() []string               { return opKeys }

func (o *opObject) Has(k string) bool {
	switch k {
	case "id", "key", "account", "feature", "amount":
		return true
	}
	return false
}

// readObject is the JS handle of a balance read, {id, account}.
type readObject struct {
	rt      *sobek.Runtime
	rd      ledger.Read
	settled bool
}

var readKeys = []string{"id", "account"}

var _ sobek.DynamicObject = (*readObject)(nil)

func (o *readObject) Get(k string) sobek.Value {
	switch k {
	case "id":
		return o.rt.ToValue(o.rd.ID)
	case "account":
		return o.rt.ToValue(o.rd.Account)
	}
	return nil
}

func (o *readObject) Set(string, sobek.Value) bool { return false }
func (o *readObject) Delete(string) bool           { return false }
func (o *readObject) Keys() []string               { return readKeys }
func (o *readObject) Has(k string) bool            { return k == "id" || k == "account" }
