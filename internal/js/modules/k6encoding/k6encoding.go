// Package k6encoding implements the `k6/encoding` JS module: b64encode and
// b64decode with the std, rawstd, url and rawurl alphabets.
package k6encoding

import (
	"encoding/base64"
	"fmt"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/internal/js/jsbuf"
	"github.com/tallyhq/tally/modules"
)

// Module is the per-run root of k6/encoding.
type Module struct{}

// New returns the module.
func New() *Module { return &Module{} }

// NewModuleInstance returns the module for one VU.
func (*Module) NewModuleInstance(vu modules.VU) modules.Instance { return &instance{rt: vu.Runtime()} }

type instance struct{ rt *sobek.Runtime }

// Exports returns b64encode and b64decode.
func (i *instance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{
		"b64encode": i.b64encode,
		"b64decode": i.b64decode,
	}}
}

// encodings maps k6's alphabet names to Go's encoders.
var encodings = map[string]*base64.Encoding{
	"std":    base64.StdEncoding,
	"rawstd": base64.RawStdEncoding,
	"url":    base64.URLEncoding,
	"rawurl": base64.RawURLEncoding,
}

// Encoding returns the base64 alphabet named by v ("std" when v is
// undefined, null or empty).
func Encoding(v sobek.Value) (*base64.Encoding, error) {
	name := ""
	if v != nil && !sobek.IsUndefined(v) && !sobek.IsNull(v) {
		name = v.String()
	}
	if name == "" {
		return base64.StdEncoding, nil
	}
	enc, ok := encodings[name]
	if !ok {
		return nil, fmt.Errorf("unknown base64 encoding %q: use \"std\", \"rawstd\", \"url\" or \"rawurl\"", name)
	}
	return enc, nil
}

// b64encode(input, encoding = "std"): input is a string (encoded as UTF-8)
// or an ArrayBuffer/typed array.
func (i *instance) b64encode(call sobek.FunctionCall) sobek.Value {
	enc, err := Encoding(call.Argument(1))
	if err != nil {
		panic(i.rt.NewTypeError("b64encode: " + err.Error()))
	}
	return i.rt.ToValue(enc.EncodeToString(jsbuf.Input(call.Argument(0))))
}

// b64decode(input, encoding = "std", format): an ArrayBuffer, or a string
// when format is "s". Invalid input throws.
func (i *instance) b64decode(call sobek.FunctionCall) sobek.Value {
	enc, err := Encoding(call.Argument(1))
	if err != nil {
		panic(i.rt.NewTypeError("b64decode: " + err.Error()))
	}
	in := call.Argument(0)
	var s string
	if b, ok := jsbuf.View(in); ok {
		s = string(b)
	} else {
		s = in.String()
	}
	out, err := enc.DecodeString(s)
	if err != nil {
		panic(i.rt.NewGoError(fmt.Errorf("b64decode: the input is not valid base64 for this alphabet (%w)", err)))
	}
	if f := call.Argument(2); !sobek.IsUndefined(f) && f.String() == "s" {
		return i.rt.ToValue(string(out))
	}
	return jsbuf.NewArrayBuffer(i.rt, out)
}
