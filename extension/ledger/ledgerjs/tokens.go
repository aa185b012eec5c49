package ledgerjs

import (
	"errors"

	"github.com/grafana/sobek"
)

// setToken(acct, token) keeps an account's credential in the run's memory,
// shared by every VU, so that scenarios need not pass it through the setup
// data (which k6 puts in --summary-export and handleSummary's data). Tokens
// are never journaled, logged or reported.
func (i *instance) setToken(call sobek.FunctionCall) sobek.Value {
	const fn = "setToken"
	acct, err := stringValue("account", call.Argument(0))
	if err == nil && acct == "" {
		err = errors.New("account: want a non-empty id")
	}
	if err != nil {
		i.badArg(fn, err)
	}
	tok, err := stringValue("token", call.Argument(1))
	if err != nil {
		i.badArg(fn, err)
	}
	i.root.tokens.Store(acct, tok)
	return sobek.Undefined()
}

// token(acct) returns the credential setToken kept for acct, or undefined.
func (i *instance) token(call sobek.FunctionCall) sobek.Value {
	const fn = "token"
	acct, err := stringValue("account", call.Argument(0))
	if err != nil {
		i.badArg(fn, err)
	}
	if v, ok := i.root.tokens.Load(acct); ok {
		return i.rt.ToValue(v.(string))
	}
	return sobek.Undefined()
}
