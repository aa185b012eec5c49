package js_test

import (
	"testing"

	"github.com/tallyhq/tally/modules/modulestest"
)

// TestLazyGlobals: open, require, the timers, crypto, TextEncoder and
// TextDecoder are made when first read, and behave as ordinary globals: they
// can be tested for, read through globalThis, assigned and deleted, and a
// name that is no global still throws a ReferenceError. (One difference from
// globals made up front: deleting one the script never read has no effect,
// since it is not yet a property of the global object.)
func TestLazyGlobals(t *testing.T) {
	t.Parallel()
	e := mustEnv(t, map[string]string{"main.js": `
const r = [];
r.push(typeof setTimeout, typeof clearInterval, typeof open, typeof require);
r.push('crypto' in globalThis, globalThis.crypto === crypto, crypto.randomUUID().length);
r.push(typeof crypto.subtle.digest, new TextDecoder().decode(new TextEncoder().encode('é')));
r.push(Object.prototype.hasOwnProperty.call(globalThis, 'crypto'));
globalThis.TextEncoder = 'mine';
r.push(TextEncoder);
delete globalThis.TextDecoder;
r.push(typeof TextDecoder, 'TextDecoder' in globalThis);
r.push(typeof setInterval);
delete globalThis.setInterval;
r.push(typeof setInterval);
try { notAGlobal; r.push('no error'); } catch (e) { r.push(e.name); }
r.push(typeof notAGlobal, globalThis.toString === Object.prototype.toString, globalThis instanceof Object);
export default function () { globalThis.result = r.join(','); }`})
	v := e.VU(1)
	v.Run(modulestest.Scenario{Name: "s", Exec: "default"}, 1)
	want := "function,function,function,function,true,true,36,function,é,true,mine,undefined,false,function,undefined,ReferenceError,undefined,true,true"
	if got := v.Global("result"); got != want {
		t.Errorf("result =\n%v\nwant\n%v", got, want)
	}
}

// TestFixedGlobals: __VU, __ENV, __ITER, global and console, which the
// global object's prototype holds (no property of sobek's global object is
// set, so it keeps sharing its built-ins' names), read as they did as own
// properties: in init (__ITER undefined) and in iterations, through
// globalThis, with typeof and in; an assignment through globalThis
// replaces one.
func TestFixedGlobals(t *testing.T) {
	t.Parallel()
	e, err := newEnv(t, map[string]string{"main.js": `
const r = [__VU, typeof __ITER, __ENV.A, global === globalThis, typeof console.log, typeof console.nope];
r.push('__VU' in globalThis, globalThis.__ENV === __ENV, globalThis.console === console);
r.push(Object.getOwnPropertyNames(globalThis).filter((n) => n.startsWith('__') || n === 'console').length);
export default function () {
  globalThis.result = r.concat([__ITER, globalThis.__ITER, __VU, __ENV.A]).join(',');
  if (__ITER === 1) { globalThis.__ITER = 'mine'; globalThis.mine = __ITER; }
}`}, map[string]string{"A": "a"})
	if err != nil {
		t.Fatal(err)
	}
	v := e.VU(3)
	sc := modulestest.Scenario{Name: "s", Exec: "default"}
	v.Run(sc, 1)
	if got, want := v.Global("result"), "3,undefined,a,true,function,undefined,true,true,true,0,0,0,3,a"; got != want {
		t.Errorf("first iteration: %v, want %v", got, want)
	}
	v.Run(sc, 1)
	if got, want := v.Global("result"), "3,undefined,a,true,function,undefined,true,true,true,0,1,1,3,a"; got != want {
		t.Errorf("second iteration: %v, want %v", got, want)
	}
	if got := v.Global("mine"); got != "mine" {
		t.Errorf("assigned __ITER reads %v", got)
	}
}
