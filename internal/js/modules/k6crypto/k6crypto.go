// Package k6crypto implements the `k6/crypto` JS module: one-shot digests
// (md4, md5, sha1, sha256, sha384, sha512, sha512_224, sha512_256,
// ripemd160), hmac, incremental createHash/createHMAC and randomBytes, on Go's
// hash implementations.
package k6crypto

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"
	"strings"

	"github.com/grafana/sobek"
	"golang.org/x/crypto/md4"       //nolint:staticcheck // k6 scripts ask for md4 by name
	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // k6 scripts ask for ripemd160 by name

	"github.com/tallyhq/tally/internal/js/jsbuf"
	"github.com/tallyhq/tally/modules"
)

// Module is the per-run root of k6/crypto.
type Module struct{}

// New returns the module.
func New() *Module { return &Module{} }

// NewModuleInstance returns the module for one VU.
func (*Module) NewModuleInstance(vu modules.VU) modules.Instance { return &instance{rt: vu.Runtime()} }

type instance struct{ rt *sobek.Runtime }

// algorithms are the hash functions scripts can name.
var algorithms = map[string]func() hash.Hash{
	"md4":        md4.New,
	"md5":        md5.New,
	"sha1":       sha1.New,
	"sha256":     sha256.New,
	"sha384":     sha512.New384,
	"sha512":     sha512.New,
	"sha512_224": sha512.New512_224,
	"sha512_256": sha512.New512_256,
	"ripemd160":  ripemd160.New,
}

// Algorithm returns the hash constructor named name ("sha256",
// "sha512_256", ...; "sha-256" and "sha512/256" spellings are accepted too).
func Algorithm(name string) (func() hash.Hash, error) {
	n := strings.ToLower(name)
	n = strings.ReplaceAll(n, "/", "_")
	if strings.HasPrefix(n, "sha-") {
		n = "sha" + n[4:]
	}
	if f, ok := algorithms[n]; ok {
		return f, nil
	}
	names := make([]string, 0, len(algorithms))
	for k := range algorithms {
		names = append(names, k)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("unknown hash algorithm %q: use one of %s", name, strings.Join(names, ", "))
}

// Exports returns the digest functions, hmac, createHash, createHMAC and
// randomBytes.
func (i *instance) Exports() modules.Exports {
	named := map[string]any{
		"hmac":        i.hmac,
		"createHash":  i.createHash,
		"createHMAC":  i.createHMAC,
		"randomBytes": i.randomBytes,
	}
	for name, f := range algorithms {
		named[name] = i.oneShot(name, f)
	}
	return modules.Exports{Named: named}
}

// oneShot returns ALGO(input, outputEncoding).
func (i *instance) oneShot(name string, f func() hash.Hash) func(sobek.FunctionCall) sobek.Value {
	return func(call sobek.FunctionCall) sobek.Value {
		h := f()
		h.Write(jsbuf.Input(call.Argument(0)))
		return i.encode(name, h.Sum(nil), call.Argument(1))
	}
}

// encode renders a digest as outputEncoding asks: "hex", "base64",
// "base64url", "base64rawurl" or "binary" (an ArrayBuffer).
func (i *instance) encode(fn string, sum []byte, enc sobek.Value) sobek.Value {
	e := "hex"
	if enc != nil && !sobek.IsUndefined(enc) && !sobek.IsNull(enc) {
		e = enc.String()
	}
	switch e {
	case "hex":
		return i.rt.ToValue(hex.EncodeToString(sum))
	case "base64":
		return i.rt.ToValue(base64.StdEncoding.EncodeToString(sum))
	case "base64url":
		return i.rt.ToValue(base64.URLEncoding.EncodeToString(sum))
	case "base64rawurl":
		return i.rt.ToValue(base64.RawURLEncoding.EncodeToString(sum))
	case "binary":
		return jsbuf.NewArrayBuffer(i.rt, sum)
	}
	panic(i.rt.NewTypeError(fmt.Sprintf("%s: unknown output encoding %q: use \"hex\", \"base64\", \"base64url\", \"base64rawurl\" or \"binary\"", fn, e)))
}

func (i *instance) algorithm(fn string, v sobek.Value) func() hash.Hash {
	f, err := Algorithm(v.String())
	if err != nil {
		panic(i.rt.NewTypeError(fn + ": " + err.Error()))
	}
	return f
}

// hmac(algorithm, secret, data, outputEncoding).
func (i *instance) hmac(call sobek.FunctionCall) sobek.Value {
	f := i.algorithm("hmac", call.Argument(0))
	h := hmac.New(f, jsbuf.Input(call.Argument(1)))
	h.Write(jsbuf.Input(call.Argument(2)))
	return i.encode("hmac", h.Sum(nil), call.Argument(3))
}

// createHash(algorithm) returns a Hasher.
func (i *instance) createHash(call sobek.FunctionCall) sobek.Value {
	f := i.algorithm("createHash", call.Argument(0))
	return i.hasher("createHash", f())
}

// createHMAC(algorithm, secret) returns a Hasher.
func (i *instance) createHMAC(call sobek.FunctionCall) sobek.Value {
	f := i.algorithm("createHMAC", call.Argument(0))
	return i.hasher("createHMAC", hmac.New(f, jsbuf.Input(call.Argument(1))))
}

// hasher is the object with update(input) and digest(outputEncoding).
func (i *instance) hasher(fn string, h hash.Hash) sobek.Value {
	o := i.rt.NewObject()
	_ = o.Set("update", func(call sobek.FunctionCall) sobek.Value {
		h.Write(jsbuf.Input(call.Argument(0)))
		return o
	})
	_ = o.Set("digest", func(call sobek.FunctionCall) sobek.Value {
		return i.encode(fn, h.Sum(nil), call.Argument(0))
	})
	return o
}

// randomBytes(size) returns size cryptographically random bytes as an
// ArrayBuffer; size must be at least 1.
func (i *instance) randomBytes(call sobek.FunctionCall) sobek.Value {
	n := call.Argument(0).ToInteger()
	if n < 1 || n > 1<<30 {
		panic(i.rt.NewTypeError(fmt.Sprintf("randomBytes: invalid size %d: it must be between 1 and %d", n, 1<<30)))
	}
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return i.rt.ToValue(i.rt.NewArrayBuffer(b))
}
