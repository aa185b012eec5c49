package main

import (
	"strings"
	"testing"
)

// TestThrownValuesAreReported: whatever a script throws or rejects with, in
// whichever phase, tally reports it and exits with the phase's documented
// code; it never crashes with a Go panic (before: exit 2 and a Go stack for
// Object.create(null), {toString: null}, a throwing toString, a symbol in
// teardown, a proxy).
func TestThrownValuesAreReported(t *testing.T) {
	t.Parallel()
	const noPrimitive = "[object Object] (it cannot be converted to a string: TypeError: Cannot convert object to primitive value)"
	kinds := []struct{ name, expr, want string }{
		{"null prototype", "Object.create(null)", noPrimitive},
		{"toString null", "{ toString: null }", noPrimitive},
		{"throwing toString", "{ toString() { throw new Error('boom'); } }", "[object Object] (it cannot be converted to a string: Error: boom)"},
		{"symbol", "Symbol('sym')", "Symbol(sym)"},
		{"proxy", "new Proxy({}, { get() { throw new Error('trap'); } })", "[object Object] (it cannot be converted to a string: Error: trap)"},
		{"error", "new Error('plain')", "Error: plain"},
	}
	phases := []struct {
		name, script, want string
		code               int
	}{
		{"init", "throw (X);\nexport default function () {}\n", "the init context of the script threw: ", 107},
		{"setup", "export function setup() { throw (X); }\nexport default function () {}\n", "setup() threw: ", 107},
		{"iteration", "export const options = { iterations: 2 };\nexport default function () { throw (X); }\n",
			"2 iteration(s) ended with an uncaught exception", 0},
		{"rejection", "export const options = { iterations: 2 };\nexport default async function () { await Promise.reject(X); }\n",
			"2 iteration(s) ended with an uncaught exception", 0},
		{"teardown", "export default function () {}\nexport function teardown() { throw (X); }\n", "teardown() threw: ", 107},
		{"handleSummary", "export default function () {}\nexport function handleSummary() { throw (X); }\n",
			"handleSummary() failed, printing the default summary instead", 0},
	}
	for _, p := range phases {
		for _, k := range kinds {
			t.Run(p.name+"/"+k.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				write(t, dir, "s.js", strings.ReplaceAll(p.script, "X", k.expr))
				r := tally(t, dir, "run", "-q", "s.js")
				out := r.stdout + r.stderr
				if r.code != p.code {
					t.Errorf("exit code %d, want %d\n%s", r.code, p.code, out)
				}
				if !strings.Contains(out, p.want) || !strings.Contains(out, k.want) {
					t.Errorf("output lacks %q and %q:\n%s", p.want, k.want, out)
				}
				if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic:") {
					t.Errorf("Go panic:\n%s", out)
				}
			})
		}
	}
}

// TestSlowToStringIsStopped: a toString that never returns does not hang
// the report of the exception.
func TestSlowToStringIsStopped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "s.js", "export function setup() { throw { toString() { for (;;) {} } }; }\nexport default function () {}\n")
	r := tally(t, dir, "run", "-q", "s.js")
	if r.code != 107 || !strings.Contains(r.stderr, "converting the thrown value to a string took too long") {
		t.Errorf("exit %d:\n%s", r.code, r.stderr)
	}
}
