// Package modtest runs a JS module's instance in a bare sobek runtime, for
// the modules' unit tests.
package modtest

import (
	"context"
	"testing"

	"github.com/grafana/sobek"

	"github.com/tallyhq/tally/modules"
)

// VU is a minimal modules.VU: a runtime, a background context, and an init
// environment while InInit is true.
type VU struct {
	RT     *sobek.Runtime
	InInit bool
}

// Runtime returns the VU's runtime.
func (v *VU) Runtime() *sobek.Runtime { return v.RT }

// Context returns a background context.
func (v *VU) Context() context.Context { return context.Background() }

// InitEnv returns an empty init environment while InInit is set.
func (v *VU) InitEnv() *modules.InitEnv {
	if v.InInit {
		return &modules.InitEnv{}
	}
	return nil
}

// State returns nil: module tests run without samples.
func (v *VU) State() *modules.State { return nil }

// New returns a runtime where the module's default export is the global
// `mod` and every named export is a global of its own name.
func New(t testing.TB, m modules.Module) *sobek.Runtime {
	t.Helper()
	rt := sobek.New()
	rt.SetFieldNameMapper(sobek.UncapFieldNameMapper())
	e := m.NewModuleInstance(&VU{RT: rt}).Exports()
	def := rt.NewObject()
	for name, x := range e.Named {
		if err := rt.Set(name, x); err != nil {
			t.Fatal(err)
		}
		_ = def.Set(name, rt.Get(name))
	}
	if e.Default != nil {
		if err := rt.Set("mod", e.Default); err != nil {
			t.Fatal(err)
		}
	} else if err := rt.Set("mod", def); err != nil {
		t.Fatal(err)
	}
	return rt
}

// Run evaluates src in rt and returns the exported result, failing the test
// when it throws.
func Run(t testing.TB, rt *sobek.Runtime, src string) any {
	t.Helper()
	v, err := rt.RunString(src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return v.Export()
}

// Throws evaluates src in rt and returns the exception's message, or "" when
// it did not throw.
func Throws(rt *sobek.Runtime, src string) string {
	_, err := rt.RunString(src)
	if err == nil {
		return ""
	}
	return err.Error()
}
