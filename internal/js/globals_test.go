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
