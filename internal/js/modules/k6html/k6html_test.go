package k6html_test

import (
	"strings"
	"testing"

	"github.com/tallyhq/tally/modules/modulestest"
)

const page = `<!DOCTYPE html>
<html><head><title>T</title><meta name="description" content="d"></head>
<body>
<h1 id="title" class="headline big">Fixture <em>page</em></h1>
<ul id="items">
<li class="item" data-id="1" data-role="first" data-user-name="ann" data-cfg='{"a":[1,2]}' data-on="true"><a href="/1">first</a></li>
<li class="item" data-id="2"><a href="/2">second</a></li>
<li class="item special" data-id="007"><a href="/3" rel="next">third</a></li>
</ul>
<form id="f">
<input type="text" name="user" value="alice">
<input type="checkbox" name="agree" checked>
<input type="checkbox" name="news">
<input type="submit" name="go" value="Go">
<input type="text" name="off" value="x" disabled>
<select name="lang"><option value="en">English</option><option value="fr" selected>French</option></select>
<select name="size"><option>S</option><option>M</option></select>
<textarea name="note">hello there</textarea>
</form>
<!-- a comment -->
</body></html>`

func TestSelection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want any
	}{
		{`doc.find('title').text()`, "T"},
		{`doc.find('#title').text()`, "Fixture page"},
		{`doc.find('#title').html()`, "Fixture <em>page</em>"},
		{`doc.find('#title').attr('class')`, "headline big"},
		{`doc.find('#title').attr('nope') === undefined`, true},
		{`doc.find('#title').attr('nope', 'dflt')`, "dflt"},
		{`doc.find('meta[name="description"]').attr('content')`, "d"},
		{`doc.find('li.item').size()`, int64(3)},
		{`doc.find('#items a').map((i, el) => el.attr('href')).join()`, "/1,/2,/3"},
		{`doc.find('li').map((i, el) => i === 1 ? null : i).join()`, "0,2"},
		{`doc.find('li').eq(1).data('id')`, int64(2)},
		{`doc.find('li').eq(-1).text()`, "third"},
		{`doc.find('li').eq(2).data('id')`, "007"},
		{`JSON.stringify(doc.find('li').first().data())`, `{"id":1,"role":"first","userName":"ann","cfg":{"a":[1,2]},"on":true}`},
		{`doc.find('li').first().data('userName')`, "ann"},
		{`doc.find('li').last().text()`, "third"},
		{`doc.find('li.special a').attr('rel')`, "next"},
		{`doc.find('input[name=user]').val()`, "alice"},
		{`doc.find('select[name=lang]').val()`, "fr"},
		{`doc.find('select[name=size]').val()`, "S"},
		{`doc.find('textarea').val()`, "hello there"},
		{`doc.find('.none').size()`, int64(0)},
		{`doc.find('.none').text()`, ""},
		{`doc.find('.none').html() === undefined`, true},
		{`doc.find('#items').get(0).nodeName()`, "ul"},
		{`doc.find('#items').get(5) === undefined`, true},
		{`doc.find('li').get().length`, int64(3)},
		{`doc.find('#items').children().size()`, int64(3)},
		{`doc.find('#items').children('.special').size()`, int64(1)},
		{`doc.find('a').parent().size()`, int64(3)},
		{`doc.find('em').parents('h1').attr('id')`, "title"},
		{`doc.find('em').closest('body').size()`, int64(1)},
		{`doc.find('li').first().next().data('id')`, int64(2)},
		{`doc.find('li').last().prev().data('id')`, int64(2)},
		{`doc.find('li').first().nextAll().size()`, int64(2)},
		{`doc.find('li').last().prevAll().size()`, int64(2)},
		{`doc.find('li').first().siblings().size()`, int64(2)},
		{`doc.find('li').filter('.special').size()`, int64(1)},
		{`doc.find('li').filter((i, s) => s.data('id') === 2).text()`, "second"},
		{`doc.find('li').not('.special').size()`, int64(2)},
		{`doc.find('li').has('a[rel]').size()`, int64(1)},
		{`doc.find('li').is('.special')`, true},
		{`doc.find('li').slice(1).size()`, int64(2)},
		{`doc.find('li').slice(0, -1).size()`, int64(2)},
		{`doc.find('li').toArray()[2].text()`, "third"},
		{`doc.find('h1').add('title').size()`, int64(2)},
		{`doc.find('li').eq(1).index()`, int64(1)},
		{`(() => { const names = []; doc.find('#items').children().each((i, el) => names.push(i + el.nodeName() + el.textContent())); return names.join(); })()`, "0lifirst,1lisecond,2lithird"},
		{`doc.find('form').serialize()`, "user=alice&agree=on&lang=fr&size=S&note=hello+there"},
		{`JSON.stringify(doc.find('form').serializeObject())`, `{"user":"alice","agree":"on","lang":"fr","size":"S","note":"hello there"}`},
		{`doc.find('form').serializeArray().length`, int64(5)},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			vu := modulestest.Import(t, "k6/html")
			vu.Eval("globalThis.doc = parseHTML(`" + page + "`)")
			if got := vu.Eval(tc.src); got != tc.want {
				t.Errorf("%s = %#v, want %#v", tc.src, got, tc.want)
			}
		})
	}
}

func TestElement(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want any
	}{
		{`el.nodeName()`, "h1"},
		{`el.nodeType()`, int64(1)},
		{`el.id()`, "title"},
		{`el.className()`, "headline big"},
		{`el.classList().join('|')`, "headline|big"},
		{`el.getAttribute('class')`, "headline big"},
		{`el.getAttribute('nope') === undefined`, true},
		{`el.hasAttribute('id')`, true},
		{`el.hasAttributes()`, true},
		{`el.attributes().id`, "title"},
		{`el.textContent()`, "Fixture page"},
		{`el.innerHTML()`, "Fixture <em>page</em>"},
		{`el.outerHTML()`, `<h1 id="title" class="headline big">Fixture <em>page</em></h1>`},
		{`el.children().length`, int64(1)},
		{`el.childNodes().length`, int64(2)},
		{`el.firstChild().nodeName()`, "#text"},
		{`el.firstChild().nodeValue()`, "Fixture "},
		{`el.lastChild().nodeName()`, "em"},
		{`el.parentElement().nodeName()`, "body"},
		{`el.nextElementSibling().nodeName()`, "ul"},
		{`el.previousElementSibling() === undefined`, true},
		{`el.querySelector('em').textContent()`, "page"},
		{`el.querySelector('b') === undefined`, true},
		{`el.querySelectorAll('em').length`, int64(1)},
		{`el.matches('h1.big')`, true},
		{`el.selection().find('em').text()`, "page"},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			vu := modulestest.Import(t, "k6/html")
			vu.Eval("globalThis.el = parseHTML(`" + page + "`).find('h1').get(0)")
			if got := vu.Eval(tc.src); got != tc.want {
				t.Errorf("%s = %#v, want %#v", tc.src, got, tc.want)
			}
		})
	}
}

func TestCallbackExceptions(t *testing.T) {
	t.Parallel()
	vu := modulestest.Import(t, "k6/html")
	vu.Eval("globalThis.doc = parseHTML(`" + page + "`)")
	for _, src := range []string{
		`doc.find('li').map(() => { throw new Error('in map'); })`,
		`doc.find('li').each(() => { throw new Error('in each'); })`,
		`doc.find('li').filter(() => { throw new Error('in filter'); })`,
	} {
		if msg := vu.Throws(src); !strings.Contains(msg, "in ") {
			t.Errorf("%s: error %q", src, msg)
		}
	}
	if msg := vu.Throws(`doc.find('li').map(42)`); !strings.Contains(msg, "needs a function") {
		t.Errorf("map(42): %q", msg)
	}
}

// BenchmarkResponseHTML is what res.html().find(...).map(...) costs on the
// conformance fixture page: parse, select, read attributes.
func BenchmarkResponseHTML(b *testing.B) {
	vu := modulestest.Import(b, "k6/html")
	if err := vu.Runtime().Set("page", page); err != nil {
		b.Fatal(err)
	}
	prog := `parseHTML(page).find('#items a').map((i, a) => a.attr('href')).length`
	for b.Loop() {
		if _, err := vu.Runtime().RunString(prog); err != nil {
			b.Fatal(err)
		}
	}
}
