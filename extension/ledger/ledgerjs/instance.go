package ledgerjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/extension/ledger"
	"github.com/tallyhq/tally/metrics"
	"github.com/tallyhq/tally/modules"
)

// instanceKey is the context key under which the core's calls carry the
// calling VU's instance, for the Observer.
type instanceKey struct{}

// instance is k6/x/ledger as one VU sees it. It is used only on the VU's
// goroutine.
type instance struct {
	root *RootModule
	vu   modules.VU
	rt   *sobek.Runtime
	ctx  context.Context // carries the instance; used on the hot path

	metrics [9]*metrics.Metric // in the order of ledger.Metrics
	pending []ledger.Sample    // samples the core reported during the current call

	tagBase  *metrics.TagSet // the VU's tags the cache was built on
	tagCache map[ledger.Tags]*metrics.TagSet

	outcomeNames [5]sobek.Value // "pending", "ok", ... as JS strings
	settles      uint64         // settle() calls, for strictCheck
}

// strictCheck reports whether this settle() call checks its outcome
// object's keys: the first 16 calls of each VU and every 64th afterwards
// (listing an object's keys costs as much as the rest of the call; a
// misspelt key shows up on a VU's first passes through the code).
func (i *instance) strictCheck() bool {
	i.settles++
	return i.settles <= 16 || i.settles%64 == 0
}

const maxTagCache = 256

func newInstance(root *RootModule, vu modules.VU) *instance {
	rt := vu.Runtime()
	i := &instance{root: root, vu: vu, rt: rt, pending: make([]ledger.Sample, 0, 4)}
	i.ctx = context.WithValue(context.Background(), instanceKey{}, i)
	for k := range i.outcomeNames {
		i.outcomeNames[k] = rt.ToValue(ledger.OutcomeKind(k).String())
	}
	if len(ledger.Metrics) != len(i.metrics) {
		panic(rt.NewGoError(fmt.Errorf("k6/x/ledger: the core reports %d metrics, the binding knows %d", len(ledger.Metrics), len(i.metrics))))
	}
	if env := vu.InitEnv(); env != nil {
		for k, mi := range ledger.Metrics {
			typ := metrics.Counter
			if mi.Type == ledger.Rate {
				typ = metrics.Rate
			}
			m, err := env.Registry.New(mi.Name, typ)
			if err != nil {
				panic(rt.NewGoError(fmt.Errorf("k6/x/ledger: %w", err)))
			}
			i.metrics[k] = m
		}
	}
	return i
}

// Exports returns the JS API; the default export has the same functions.
func (i *instance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{
		"configure":     i.configure,
		"open":          i.open,
		"begin":         i.begin,
		"settle":        i.settle,
		"settleHttp":    i.settleHTTP,
		"beginRead":     i.beginRead,
		"settleRead":    i.settleRead,
		"unknowns":      i.unknowns,
		"settleReplay":  i.settleReplay,
		"close":         i.close,
		"notifications": i.notifications,
		"serverLog":     i.serverLog,
		"verify":        i.verify,
		"exportJournal": i.exportJournal,
		"merge":         i.merge,
		"text":          i.text,
		"waitSettled":   i.waitSettled,
		"info":          i.info,
		"setToken":      i.setToken,
		"token":         i.token,
	}}
}

// --- errors

// throw raises a JS exception for err from function fn: a TypeError for
// bad arguments, an Error otherwise.
func (i *instance) throw(fn string, err error) {
	msg := "ledger." + fn + ": " + err.Error()
	var bad *badArg
	if errors.As(err, &bad) || errors.Is(err, ledger.ErrBadAmount) || errors.Is(err, ledger.ErrBadOutcome) || errors.Is(err, ledger.ErrBadAccount) {
		panic(i.rt.NewTypeError(msg))
	}
	ctor, _ := i.rt.Get("Error").(*sobek.Object)
	if ctor != nil {
		if obj, e := i.rt.New(ctor, i.rt.ToValue(msg)); e == nil {
			panic(obj)
		}
	}
	panic(i.rt.NewGoError(errors.New(msg)))
}

// badArg marks an error in the arguments a script passed.
type badArg struct{ err error }

func (b *badArg) Error() string { return b.err.Error() }
func (b *badArg) Unwrap() error { return b.err }

func (i *instance) badArg(fn string, err error) { i.throw(fn, &badArg{err}) }

func (i *instance) badArgf(fn, format string, args ...any) {
	i.throw(fn, &badArg{fmt.Errorf(format, args...)})
}

// --- the run's ledger, samples

// state returns the VU's state, throwing in the init context.
func (i *instance) state(fn string) *modules.State {
	st := i.vu.State()
	if st == nil {
		i.throw(fn, errors.New("not available in the init context: call it in setup(), the default function or teardown() (only configure() belongs in the init context)"))
	}
	return st
}

// ledger returns the run's Ledger, creating it on first use.
func (i *instance) ledger(fn string) *ledger.Ledger {
	if l := i.root.led.Load(); l != nil {
		return l
	}
	l, err := i.root.create(segmentOf(i.vu))
	if err != nil {
		i.throw(fn, err)
	}
	return l
}

// flush pushes the samples the core reported during the call to the VU's
// sample stream, tagged with the VU's tags plus the sample's own.
func (i *instance) flush(st *modules.State) {
	if len(i.pending) == 0 {
		return
	}
	now := time.Now()
	base := st.Tags()
	if base != i.tagBase || len(i.tagCache) > maxTagCache {
		i.tagBase = base
		clear(i.tagCache)
	}
	out := make(metrics.Samples, 0, len(i.pending))
	for _, s := range i.pending {
		m := i.metric(s.Metric)
		if m == nil {
			continue
		}
		out = append(out, metrics.Sample{Metric: m, Time: now, Value: s.Value, Tags: i.tags(base, s.Tags)})
	}
	i.pending = i.pending[:0]
	if len(out) > 0 {
		st.Samples.Push(out)
	}
}

func (i *instance) metric(name string) *metrics.Metric {
	for k := range ledger.Metrics {
		if ledger.Metrics[k].Name == name {
			return i.metrics[k]
		}
	}
	return nil
}

// tags returns base plus t, from a per-VU cache (the VU's tags change only
// with the scenario, group or script-set tags).
func (i *instance) tags(base *metrics.TagSet, t ledger.Tags) *metrics.TagSet {
	if t == (ledger.Tags{}) {
		return base
	}
	if s, ok := i.tagCache[t]; ok {
		return s
	}
	m := make(map[string]string, 3)
	if t.Kind != "" {
		m["kind"] = t.Kind
	}
	if t.Outcome != "" {
		m["outcome"] = t.Outcome
	}
	if t.Feature != "" {
		m["feature"] = t.Feature
	}
	s := base.Merge(metrics.NewTagSet(m))
	if i.tagCache == nil {
		i.tagCache = make(map[ledger.Tags]*metrics.TagSet)
	}
	i.tagCache[t] = s
	return s
}

// --- arguments

// account reads an account id (a non-empty string, or a number) and checks
// that this instance opened it, unless allowUnopened is set.
func (i *instance) account(fn string, v sobek.Value, mustBeOpen bool) string {
	var acct string
	switch v.ExportType() {
	case typeString:
		acct = v.String()
	case typeInt, typeFloat:
		s, err := idValue("account", v)
		if err != nil {
			i.badArg(fn, err)
		}
		acct = s
	default:
		i.badArgf(fn, "account: want an account id (a string), got %s", describe(v))
	}
	if acct == "" {
		i.badArgf(fn, "account: want a non-empty account id")
	}
	if mustBeOpen && !i.root.info.allowUnopened {
		if _, ok := i.root.opened.Load(acct); !ok {
			i.throw(fn, fmt.Errorf("account %q was never opened: call ledger.open(%q, snapshot) in setup() first (or configure({allowUnopened: true}) when another instance opens it)", acct, acct))
		}
	}
	return acct
}

func (i *instance) object(fn, what string, v sobek.Value) *sobek.Object {
	obj, ok := v.(*sobek.Object)
	if !ok || isArray(obj) {
		i.badArgf(fn, "%s: want an object, got %s", what, describe(v))
	}
	return obj
}

func (i *instance) opArg(fn string, v sobek.Value) *opObject {
	if obj, ok := v.(*sobek.Object); ok {
		if op, ok := obj.Export().(*opObject); ok {
			return op
		}
	}
	i.badArgf(fn, "want an operation returned by ledger.begin() or ledger.unknowns(), got %s (operations cannot travel through setup data: begin and settle in the same VU)", describe(v))
	return nil
}

func (i *instance) name(k ledger.OutcomeKind) sobek.Value {
	if int(k) < len(i.outcomeNames) {
		return i.outcomeNames[k]
	}
	return i.rt.ToValue(k.String())
}

// --- the API

// configure({run, instance, host, lowThreshold, overdraft, settleMs,
// clockBoundMs, journal, rules, allowUnopened}) sets the run's settings.
func (i *instance) configure(call sobek.FunctionCall) sobek.Value {
	s, err := parseSettings(i.rt, call.Argument(0))
	if err != nil {
		i.badArg("configure", err)
	}
	if err := i.root.configure(s); err != nil {
		i.throw("configure", err)
	}
	return sobek.Undefined()
}

// open(acct, snapshotOrResponse) records the account's opening snapshot.
func (i *instance) open(call sobek.FunctionCall) sobek.Value {
	const fn = "open"
	st := i.state(fn)
	l := i.ledger(fn)
	acct := i.account(fn, call.Argument(0), false)
	snap, err := snapshotArg(call.Argument(1))
	if err != nil {
		i.badArg(fn, fmt.Errorf("account %q: %w", acct, err))
	}
	err = l.Open(i.ctx, acct, snap)
	i.flush(st)
	if err != nil {
		i.throw(fn, err)
	}
	i.root.opened.Store(acct, struct{}{})
	return sobek.Undefined()
}

// begin(acct, {feature, amount, key?}) records the start of a deduction and
// returns its handle {id, key, account, feature, amount}.
func (i *instance) begin(call sobek.FunctionCall) sobek.Value {
	const fn = "begin"
	st := i.state(fn)
	l := i.ledger(fn)
	acct := i.account(fn, call.Argument(0), true)
	obj := i.object(fn, "deduction {feature, amount, key?}", call.Argument(1))
	var d ledger.Deduction
	v := obj.Get("amount")
	if isNothing(v) {
		i.badArgf(fn, "the deduction has no amount (want {feature, amount})")
	}
	n, err := intValue("amount", v)
	if err != nil || n <= 0 {
		i.badArgf(fn, "amount must be a positive whole number of credits, got %s", describe(v))
	}
	d.Amount = n
	if v = obj.Get("feature"); isNothing(v) || v.ExportType() != typeString || v.String() == "" {
		i.badArgf(fn, "feature: want the feature's name (e.g. 'ai_search'), got %s", describe(v))
	}
	d.Feature = v.String()
	if v = obj.Get("key"); !isNothing(v) {
		key, err := stringValue("key", v)
		if err != nil || key == "" {
			i.badArgf(fn, "key: want a non-empty idempotency key, got %s", describe(v))
		}
		d.Key = key
	}
	op, err := l.Begin(i.ctx, acct, d)
	i.flush(st)
	if err != nil {
		i.throw(fn, err)
	}
	return i.rt.NewDynamicObject(&opObject{rt: i.rt, op: op})
}

// settle(op, outcome) records how a deduction ended.
func (i *instance) settle(call sobek.FunctionCall) sobek.Value {
	const fn = "settle"
	st := i.state(fn)
	l := i.ledger(fn)
	op := i.opArg(fn, call.Argument(0))
	obj := i.object(fn, "outcome", call.Argument(1))
	o, err := outcomeArg(obj, i.strictCheck())
	if err != nil {
		i.badArg(fn, err)
	}
	err = l.Settle(i.ctx, op.op, o)
	i.flush(st)
	if err != nil {
		i.throw(fn, err)
	}
	return sobek.Undefined()
}

// settleHttp(op, res) maps a k6 http Response with the configured rules,
// settles op with it and returns the outcome's name.
func (i *instance) settleHTTP(call sobek.FunctionCall) sobek.Value {
	const fn = "settleHttp"
	st := i.state(fn)
	l := i.ledger(fn)
	op := i.opArg(fn, call.Argument(0))
	res := i.response(fn, call.Argument(1))
	o := i.root.info.reader.outcome(res)
	err := l.Settle(i.ctx, op.op, o)
	i.flush(st)
	if err != nil {
		i.throw(fn, err)
	}
	if o.Kind == ledger.OK && res.Body == nil && !i.root.noBodyWarned.Swap(true) {
		st.Logger.Warn("ledger.settleHttp: a deduction's response has no body (discardResponseBodies or responseType 'none'?): balances after deductions cannot be checked")
	}
	return i.name(o.Kind)
}

func (i *instance) response(fn string, v sobek.Value) ledger.HTTPResult {
	obj, ok := v.(*sobek.Object)
	if !ok || isArray(obj) || isNothing(obj.Get("status")) {
		i.badArgf(fn, "want a k6 http Response (an object with status and body), got %s", describe(v))
	}
	res, err := httpResult(obj)
	if err != nil {
		i.badArg(fn, fmt.Errorf("response: %w", err))
	}
	return res
}

// beginRead(acct) records the start of a balance read.
func (i *instance) beginRead(call sobek.FunctionCall) sobek.Value {
	const fn = "beginRead"
	i.state(fn)
	l := i.ledger(fn)
	acct := i.account(fn, call.Argument(0), true)
	rd, err := l.BeginRead(i.ctx, acct)
	if err != nil {
		i.throw(fn, err)
	}
	return i.rt.NewDynamicObject(&readObject{rt: i.rt, rd: rd})
}

// settleRead(rd, snapshotOrResponse) records what a read returned. A
// Response that is not 2xx leaves the read unsettled (a failed read tells
// nothing) and returns false.
func (i *instance) settleRead(call sobek.FunctionCall) sobek.Value {
	const fn = "settleRead"
	st := i.state(fn)
	l := i.ledger(fn)
	var rd *readObject
	if obj, ok := call.Argument(0).(*sobek.Object); ok {
		rd, _ = obj.Export().(*readObject)
	}
	if rd == nil {
		i.badArgf(fn, "want a read returned by ledger.beginRead(), got %s", describe(call.Argument(0)))
	}
	if rd.settled {
		i.throw(fn, fmt.Errorf("read %d of %q: %w", rd.rd.ID, rd.rd.Account, ledger.ErrAlreadySettled))
	}
	arg := call.Argument(1)
	if obj, ok := arg.(*sobek.Object); ok && responseLike(obj) {
		res, err := httpResult(obj)
		if err != nil {
			i.badArg(fn, err)
		}
		if res.Status < 200 || res.Status > 299 {
			rd.settled = true
			return i.rt.ToValue(false)
		}
	}
	snap, err := snapshotArg(arg)
	if err != nil {
		i.badArg(fn, err)
	}
	err = l.SettleRead(i.ctx, rd.rd, snap)
	i.flush(st)
	if err != nil {
		i.throw(fn, err)
	}
	rd.settled = true
	return i.rt.ToValue(true)
}

// unknowns() lists the deductions whose outcome is unknown or that were
// never settled, as handles for settleReplay().
func (i *instance) unknowns(sobek.FunctionCall) sobek.Value {
	const fn = "unknowns"
	i.state(fn)
	l := i.ledger(fn)
	ops := l.Unknowns()
	vals := make([]any, len(ops))
	for k, op := range ops {
		vals[k] = i.rt.NewDynamicObject(&opObject{rt: i.rt, op: op})
	}
	return i.rt.NewArray(vals...)
}

// settleReplay(idOrOp, outcomeOrResponse) resolves an unknown deduction with
// the answer to its replay (same Idempotency-Key); returns the replay's
// outcome name.
func (i *instance) settleReplay(call sobek.FunctionCall) sobek.Value {
	const fn = "settleReplay"
	st := i.state(fn)
	l := i.ledger(fn)
	var id uint64
	switch a := call.Argument(0); {
	case a.ExportType() == typeInt || a.ExportType() == typeFloat:
		n, err := intValue("id", a)
		if err != nil || n <= 0 {
			i.badArgf(fn, "id: want an operation id from ledger.unknowns(), got %s", describe(a))
		}
		id = uint64(n)
	default:
		id = i.opArg(fn, a).op.ID
	}
	obj := i.object(fn, "outcome or Response", call.Argument(1))
	var o ledger.Outcome
	if responseLike(obj) {
		res, err := httpResult(obj)
		if err != nil {
			i.badArg(fn, err)
		}
		o = i.root.info.reader.outcome(res)
	} else {
		var err error
		if o, err = outcomeArg(obj, true); err != nil {
			i.badArg(fn, err)
		}
	}
	err := l.SettleReplayID(i.ctx, id, o)
	i.flush(st)
	if err != nil {
		i.throw(fn, err)
	}
	return i.name(o.Kind)
}

// close(acct, snapshotOrResponse) records the closing snapshot.
func (i *instance) close(call sobek.FunctionCall) sobek.Value {
	const fn = "close"
	st := i.state(fn)
	l := i.ledger(fn)
	acct := i.account(fn, call.Argument(0), true)
	snap, err := snapshotArg(call.Argument(1))
	if err != nil {
		i.badArg(fn, fmt.Errorf("account %q: %w", acct, err))
	}
	err = l.Close(i.ctx, acct, snap)
	i.flush(st)
	if err != nil {
		i.throw(fn, err)
	}
	return sobek.Undefined()
}

// notifications(acct, listOrResponse) hands over the account's notices.
func (i *instance) notifications(call sobek.FunctionCall) sobek.Value {
	const fn = "notifications"
	st := i.state(fn)
	l := i.ledger(fn)
	acct := i.account(fn, call.Argument(0), true)
	list, err := noticesArg(i.rt, call.Argument(1))
	if err != nil {
		i.badArg(fn, fmt.Errorf("account %q: %w", acct, err))
	}
	err = l.Notifications(i.ctx, acct, list)
	i.flush(st)
	if err != nil {
		i.throw(fn, err)
	}
	return i.rt.ToValue(len(list))
}

// serverLog(acct, txsOrResponse) hands over a page of the account's
// transaction log and returns the number of transactions in it.
func (i *instance) serverLog(call sobek.FunctionCall) sobek.Value {
	const fn = "serverLog"
	st := i.state(fn)
	l := i.ledger(fn)
	acct := i.account(fn, call.Argument(0), true)
	txs, err := logArg(i.rt, call.Argument(1))
	if err != nil {
		i.badArg(fn, fmt.Errorf("account %q: %w", acct, err))
	}
	err = l.ServerLog(i.ctx, acct, txs)
	i.flush(st)
	if err != nil {
		i.throw(fn, err)
	}
	return i.rt.ToValue(len(txs))
}

var verifyKeys = []string{"porcupine", "accountBudgetMs", "totalBudgetMs", "maxOps", "memoryBudgetMb", "maxFindings", "visualizeDir"}

// parseVerifyOptions reads verify()'s options.
func parseVerifyOptions(v sobek.Value) (ledger.VerifyOptions, error) {
	var o ledger.VerifyOptions
	if isNothing(v) {
		return o, nil
	}
	obj, ok := v.(*sobek.Object)
	if !ok || isArray(obj) {
		return o, fmt.Errorf("want options {porcupine, accountBudgetMs, totalBudgetMs, maxOps}, got %s", describe(v))
	}
	for _, k := range obj.Keys() {
		val := obj.Get(k)
		if isNothing(val) {
			continue
		}
		var err error
		var n int64
		switch k {
		case "porcupine":
			var s string
			if val.ExportType() == typeBool {
				s = "off"
				if val.ToBoolean() {
					s = "auto"
				}
			} else if s, err = stringValue(k, val); err != nil {
				break
			}
			o.Deep, err = ledger.ParseDeepMode(s)
		case "accountBudgetMs":
			o.AccountBudget, err = msValue(k, val)
		case "totalBudgetMs":
			o.TotalBudget, err = msValue(k, val)
		case "maxOps":
			n, err = intValue(k, val)
			o.MaxOps = int(n)
		case "memoryBudgetMb":
			n, err = intValue(k, val)
			o.MemoryBudget = n << 20
		case "maxFindings":
			n, err = intValue(k, val)
			o.MaxFindings = int(n)
		case "visualizeDir":
			o.VisualizeDir, err = stringValue(k, val)
		default:
			err = fmt.Errorf("unknown option %q (known: %s)", k, strings.Join(verifyKeys, ", "))
		}
		if err == nil && n < 0 {
			err = fmt.Errorf("%s: want a number >= 0, got %d", k, n)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

// verify(options?) checks the bookkeeping, reports the verdict's metrics
// and returns the report as a plain object.
func (i *instance) verify(call sobek.FunctionCall) sobek.Value {
	const fn = "verify"
	st := i.state(fn)
	l := i.ledger(fn)
	opts, err := parseVerifyOptions(call.Argument(0))
	if err != nil {
		i.badArg(fn, err)
	}
	ctx := context.WithValue(i.vu.Context(), instanceKey{}, i)
	r, err := l.Verify(ctx, opts)
	i.flush(st)
	if err != nil {
		i.throw(fn, err)
	}
	i.root.setLast(r)
	return i.toJS(fn, r)
}

// toJS converts a Go value to a plain JS object through JSON.
func (i *instance) toJS(fn string, v any) sobek.Value {
	b, err := json.Marshal(v)
	if err != nil {
		i.throw(fn, err)
	}
	jsonObj := i.rt.Get("JSON").ToObject(i.rt)
	parse, _ := sobek.AssertFunction(jsonObj.Get("parse"))
	out, err := parse(jsonObj, i.rt.ToValue(string(b)))
	if err != nil {
		i.throw(fn, err)
	}
	return out
}

// exportJournal(path) writes this instance's journal to path, atomically.
func (i *instance) exportJournal(call sobek.FunctionCall) sobek.Value {
	const fn = "exportJournal"
	i.state(fn)
	l := i.ledger(fn)
	path, err := stringValue("path", call.Argument(0))
	if err != nil || path == "" {
		i.badArgf(fn, "path: want a file path, got %s", describe(call.Argument(0)))
	}
	if err := l.ExportJournal(path); err != nil {
		i.throw(fn, err)
	}
	return sobek.Undefined()
}

// merge(paths) loads the journals of other instances of this run.
func (i *instance) merge(call sobek.FunctionCall) sobek.Value {
	const fn = "merge"
	i.state(fn)
	l := i.ledger(fn)
	var paths []string
	for _, a := range call.Arguments {
		if obj, ok := a.(*sobek.Object); ok && isArray(obj) {
			var err error
			i.rt.ForOf(obj, func(e sobek.Value) bool {
				var p string
				if p, err = stringValue("path", e); err == nil {
					paths = append(paths, p)
				}
				return err == nil
			})
			if err != nil {
				i.badArg(fn, err)
			}
			continue
		}
		p, err := stringValue("path", a)
		if err != nil {
			i.badArg(fn, err)
		}
		paths = append(paths, p)
	}
	if len(paths) == 0 {
		i.badArgf(fn, "want journal paths, e.g. merge(['journal-2.ndjson'])")
	}
	if err := l.Merge(i.vu.Context(), paths...); err != nil {
		i.throw(fn, err)
	}
	return sobek.Undefined()
}

// text(report?) renders a report (default: the last verify()'s) in plain
// words.
func (i *instance) text(call sobek.FunctionCall) sobek.Value {
	const fn = "text"
	r := i.root.lastReport()
	if a := call.Argument(0); !isNothing(a) {
		obj := i.object(fn, "report", a)
		jsonObj := i.rt.Get("JSON").ToObject(i.rt)
		stringify, _ := sobek.AssertFunction(jsonObj.Get("stringify"))
		s, err := stringify(jsonObj, obj)
		if err != nil {
			i.badArg(fn, err)
		}
		var rep ledger.Report
		if err := json.Unmarshal([]byte(s.String()), &rep); err != nil || rep.Verdict == "" {
			i.badArgf(fn, "want a report returned by ledger.verify()")
		}
		r = &rep
	}
	if r == nil {
		i.throw(fn, errors.New("no report: call ledger.verify() first, or pass a report"))
	}
	var b strings.Builder
	if err := ledger.WriteText(&b, r); err != nil {
		i.throw(fn, err)
	}
	return i.rt.ToValue(b.String())
}

// waitSettled() sleeps the configured settleMs (the server's request
// deadline: requests the client gave up on may still be applied until
// then), returning early when the VU is interrupted. It returns the
// milliseconds slept.
func (i *instance) waitSettled(sobek.FunctionCall) sobek.Value {
	const fn = "waitSettled"
	i.state(fn)
	i.ledger(fn)
	d := i.root.info.settle
	if d <= 0 {
		return i.rt.ToValue(0)
	}
	start := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-i.vu.Context().Done():
	}
	return i.rt.ToValue(time.Since(start).Milliseconds())
}

// info() returns {run, instance, journal, settleMs} of the run's ledger.
func (i *instance) info(sobek.FunctionCall) sobek.Value {
	const fn = "info"
	i.state(fn)
	i.ledger(fn)
	inf := i.root.info
	obj := i.rt.NewObject()
	_ = obj.Set("run", inf.run)
	_ = obj.Set("instance", inf.instance)
	_ = obj.Set("journal", inf.journal)
	_ = obj.Set("settleMs", inf.settle.Milliseconds())
	seg, seq := segmentOf(i.vu)
	_ = obj.Set("segment", seg)
	_ = obj.Set("sequence", seq)
	return obj
}
