// Package k6html implements the `k6/html` JS module (parseHTML) and the
// Selection and Element objects Response.html() returns, on goquery (jQuery-
// like traversal with CSS selectors over golang.org/x/net/html).
//
// Selection and Element are Go values whose methods scripts call by their
// lower-cased names, so the runtime must use sobek.UncapFieldNameMapper, as
// tally's VU runtimes do.
package k6html

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"github.com/grafana/sobek"
	"golang.org/x/net/html"

	"github.com/tallyhq/tally/modules"
)

// Module is the per-run root of k6/html.
type Module struct{}

// New returns the module.
func New() *Module { return &Module{} }

// NewModuleInstance returns the module for one VU.
func (*Module) NewModuleInstance(vu modules.VU) modules.Instance { return &instance{rt: vu.Runtime()} }

type instance struct{ rt *sobek.Runtime }

// Exports returns parseHTML.
func (i *instance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{
		"parseHTML": func(src string) *Selection { return Parse(i.rt, src) },
	}}
}

// Parse parses an HTML document and returns the Selection of its root.
func Parse(rt *sobek.Runtime, src string) *Selection {
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(src))
	if err != nil {
		panic(rt.NewGoError(fmt.Errorf("parseHTML: %w", err)))
	}
	return &Selection{rt: rt, sel: doc.Selection}
}

// Selection is a set of HTML nodes, with jQuery-style methods. Scripts see
// its methods with lower-case first letters (find, attr, text, ...).
type Selection struct {
	rt  *sobek.Runtime
	sel *goquery.Selection
}

func (s *Selection) wrap(sel *goquery.Selection) *Selection { return &Selection{rt: s.rt, sel: sel} }

// selectorOr returns the optional selector argument, "" when absent.
func selectorOr(call sobek.FunctionCall, i int) string {
	a := call.Argument(i)
	if sobek.IsUndefined(a) || sobek.IsNull(a) {
		return ""
	}
	return a.String()
}

// Find returns the descendants matching a CSS selector.
func (s *Selection) Find(selector string) *Selection { return s.wrap(s.sel.Find(selector)) }

// Text returns the combined text of the nodes and their descendants.
func (s *Selection) Text() string { return s.sel.Text() }

// Html returns the inner HTML of the first node, undefined for an empty
// selection.
func (s *Selection) Html() sobek.Value {
	if s.sel.Length() == 0 {
		return sobek.Undefined()
	}
	h, err := s.sel.Html()
	if err != nil {
		panic(s.rt.NewGoError(err))
	}
	return s.rt.ToValue(h)
}

// Attr returns an attribute of the first node: the default (or undefined)
// when it is missing.
func (s *Selection) Attr(call sobek.FunctionCall) sobek.Value {
	if v, ok := s.sel.Attr(call.Argument(0).String()); ok {
		return s.rt.ToValue(v)
	}
	if len(call.Arguments) > 1 {
		return call.Argument(1)
	}
	return sobek.Undefined()
}

// Size returns the number of nodes.
func (s *Selection) Size() int { return s.sel.Length() }

// Eq returns the node at index i (negative counts from the end).
func (s *Selection) Eq(i int) *Selection { return s.wrap(s.sel.Eq(i)) }

// First returns the first node.
func (s *Selection) First() *Selection { return s.wrap(s.sel.First()) }

// Last returns the last node.
func (s *Selection) Last() *Selection { return s.wrap(s.sel.Last()) }

// Slice returns the nodes from start up to (not including) end.
func (s *Selection) Slice(call sobek.FunctionCall) sobek.Value {
	n := s.sel.Length()
	norm := func(i int64) int {
		if i < 0 {
			i += int64(n)
		}
		return int(max(0, min(i, int64(n))))
	}
	start, end := norm(call.Argument(0).ToInteger()), n
	if e := call.Argument(1); !sobek.IsUndefined(e) {
		end = norm(e.ToInteger())
	}
	if end < start {
		end = start
	}
	return s.rt.ToValue(s.wrap(s.sel.Slice(start, end)))
}

// Children returns the child elements, optionally filtered by a selector.
func (s *Selection) Children(call sobek.FunctionCall) sobek.Value {
	if sel := selectorOr(call, 0); sel != "" {
		return s.rt.ToValue(s.wrap(s.sel.ChildrenFiltered(sel)))
	}
	return s.rt.ToValue(s.wrap(s.sel.Children()))
}

// Contents returns the child nodes, text and comments included.
func (s *Selection) Contents() *Selection { return s.wrap(s.sel.Contents()) }

// Parent returns the parents, optionally filtered by a selector.
func (s *Selection) Parent(call sobek.FunctionCall) sobek.Value {
	if sel := selectorOr(call, 0); sel != "" {
		return s.rt.ToValue(s.wrap(s.sel.ParentFiltered(sel)))
	}
	return s.rt.ToValue(s.wrap(s.sel.Parent()))
}

// Parents returns the ancestors, optionally filtered by a selector.
func (s *Selection) Parents(call sobek.FunctionCall) sobek.Value {
	if sel := selectorOr(call, 0); sel != "" {
		return s.rt.ToValue(s.wrap(s.sel.ParentsFiltered(sel)))
	}
	return s.rt.ToValue(s.wrap(s.sel.Parents()))
}

// Closest returns, for each node, the first ancestor-or-self matching.
func (s *Selection) Closest(selector string) *Selection { return s.wrap(s.sel.Closest(selector)) }

// Next returns the next sibling elements, optionally filtered.
func (s *Selection) Next(call sobek.FunctionCall) sobek.Value {
	if sel := selectorOr(call, 0); sel != "" {
		return s.rt.ToValue(s.wrap(s.sel.NextFiltered(sel)))
	}
	return s.rt.ToValue(s.wrap(s.sel.Next()))
}

// NextAll returns all following sibling elements, optionally filtered.
func (s *Selection) NextAll(call sobek.FunctionCall) sobek.Value {
	if sel := selectorOr(call, 0); sel != "" {
		return s.rt.ToValue(s.wrap(s.sel.NextAllFiltered(sel)))
	}
	return s.rt.ToValue(s.wrap(s.sel.NextAll()))
}

// Prev returns the previous sibling elements, optionally filtered.
func (s *Selection) Prev(call sobek.FunctionCall) sobek.Value {
	if sel := selectorOr(call, 0); sel != "" {
		return s.rt.ToValue(s.wrap(s.sel.PrevFiltered(sel)))
	}
	return s.rt.ToValue(s.wrap(s.sel.Prev()))
}

// PrevAll returns all preceding sibling elements, optionally filtered.
func (s *Selection) PrevAll(call sobek.FunctionCall) sobek.Value {
	if sel := selectorOr(call, 0); sel != "" {
		return s.rt.ToValue(s.wrap(s.sel.PrevAllFiltered(sel)))
	}
	return s.rt.ToValue(s.wrap(s.sel.PrevAll()))
}

// Siblings returns the sibling elements, optionally filtered.
func (s *Selection) Siblings(call sobek.FunctionCall) sobek.Value {
	if sel := selectorOr(call, 0); sel != "" {
		return s.rt.ToValue(s.wrap(s.sel.SiblingsFiltered(sel)))
	}
	return s.rt.ToValue(s.wrap(s.sel.Siblings()))
}

// Filter keeps the nodes matching a selector, or for which fn(index,
// selection) returns a truthy value.
func (s *Selection) Filter(call sobek.FunctionCall) sobek.Value {
	if fn, ok := sobek.AssertFunction(call.Argument(0)); ok {
		return s.rt.ToValue(s.wrap(s.sel.FilterFunction(func(i int, sel *goquery.Selection) bool {
			v, err := fn(sobek.Undefined(), s.rt.ToValue(i), s.rt.ToValue(s.wrap(sel)))
			if err != nil {
				panic(err)
			}
			return v.ToBoolean()
		})))
	}
	return s.rt.ToValue(s.wrap(s.sel.Filter(call.Argument(0).String())))
}

// Not removes the nodes matching a selector.
func (s *Selection) Not(selector string) *Selection { return s.wrap(s.sel.Not(selector)) }

// Has keeps the nodes with a descendant matching a selector.
func (s *Selection) Has(selector string) *Selection { return s.wrap(s.sel.Has(selector)) }

// Is reports whether any node matches a selector.
func (s *Selection) Is(selector string) bool { return s.sel.Is(selector) }

// Add returns the union with the nodes a selector matches in the document.
func (s *Selection) Add(selector string) *Selection { return s.wrap(s.sel.Add(selector)) }

// End returns the selection before the last traversal.
func (s *Selection) End() *Selection { return s.wrap(s.sel.End()) }

// Index returns the position of the first node among its siblings, or -1.
func (s *Selection) Index() int { return s.sel.Index() }

// Each calls fn(index, element) for every node.
func (s *Selection) Each(call sobek.FunctionCall) sobek.Value {
	fn, ok := sobek.AssertFunction(call.Argument(0))
	if !ok {
		panic(s.rt.NewTypeError("each() needs a function(index, element)"))
	}
	s.sel.Each(func(i int, sel *goquery.Selection) {
		if _, err := fn(sobek.Undefined(), s.rt.ToValue(i), s.rt.ToValue(s.element(sel.Nodes[0]))); err != nil {
			panic(err)
		}
	})
	return s.rt.ToValue(s)
}

// Map calls fn(index, selection) for every node and returns the results
// that are not null or undefined, as an array.
func (s *Selection) Map(call sobek.FunctionCall) sobek.Value {
	fn, ok := sobek.AssertFunction(call.Argument(0))
	if !ok {
		panic(s.rt.NewTypeError("map() needs a function(index, selection)"))
	}
	var out []any
	s.sel.Each(func(i int, sel *goquery.Selection) {
		v, err := fn(sobek.Undefined(), s.rt.ToValue(i), s.rt.ToValue(s.wrap(sel)))
		if err != nil {
			panic(err)
		}
		if !sobek.IsUndefined(v) && !sobek.IsNull(v) {
			out = append(out, v)
		}
	})
	return s.rt.ToValue(s.rt.NewArray(out...))
}

// ToArray returns every node as a one-node Selection.
func (s *Selection) ToArray() sobek.Value {
	out := make([]any, 0, s.sel.Length())
	s.sel.Each(func(_ int, sel *goquery.Selection) { out = append(out, s.wrap(sel)) })
	return s.rt.ToValue(s.rt.NewArray(out...))
}

// Get returns the node at index i as an Element (undefined when out of
// range), or every node as an array of Elements without an index.
func (s *Selection) Get(call sobek.FunctionCall) sobek.Value {
	if sobek.IsUndefined(call.Argument(0)) {
		out := make([]any, 0, s.sel.Length())
		for _, n := range s.sel.Nodes {
			out = append(out, s.element(n))
		}
		return s.rt.ToValue(s.rt.NewArray(out...))
	}
	i := int(call.Argument(0).ToInteger())
	if i < 0 {
		i += len(s.sel.Nodes)
	}
	if i < 0 || i >= len(s.sel.Nodes) {
		return sobek.Undefined()
	}
	return s.rt.ToValue(s.element(s.sel.Nodes[i]))
}

// Val returns the value of the first form field: an input's value, a
// textarea's text, a select's selected option (the first option when none
// is selected; an array for a multiple select).
func (s *Selection) Val() sobek.Value {
	if s.sel.Length() == 0 {
		return sobek.Undefined()
	}
	first := s.sel.First()
	switch goquery.NodeName(first) {
	case "input":
		v, ok := first.Attr("value")
		if !ok {
			if t, _ := first.Attr("type"); t == "checkbox" || t == "radio" {
				return s.rt.ToValue("on")
			}
			return s.rt.ToValue("")
		}
		return s.rt.ToValue(v)
	case "textarea":
		return s.rt.ToValue(first.Text())
	case "select":
		selected := first.Find("option[selected]")
		if _, multiple := first.Attr("multiple"); multiple {
			var vals []any
			selected.Each(func(_ int, o *goquery.Selection) { vals = append(vals, optionValue(o)) })
			return s.rt.ToValue(s.rt.NewArray(vals...))
		}
		if selected.Length() == 0 {
			selected = first.Find("option")
		}
		if selected.Length() == 0 {
			return sobek.Undefined()
		}
		return s.rt.ToValue(optionValue(selected.First()))
	case "option":
		return s.rt.ToValue(optionValue(first))
	case "button":
		v, _ := first.Attr("value")
		return s.rt.ToValue(v)
	}
	return sobek.Undefined()
}

func optionValue(o *goquery.Selection) string {
	if v, ok := o.Attr("value"); ok {
		return v
	}
	return o.Text()
}

// Data returns data-* attributes of the first node, converted: numbers and
// booleans, JSON objects and arrays parsed. Without a key, all of them in an
// object keyed by camelCase name.
func (s *Selection) Data(call sobek.FunctionCall) sobek.Value {
	if s.sel.Length() == 0 {
		return sobek.Undefined()
	}
	node := s.sel.Nodes[0]
	if key := call.Argument(0); !sobek.IsUndefined(key) {
		want := "data-" + kebab(key.String())
		for _, a := range node.Attr {
			if a.Key == want {
				return s.rt.ToValue(convertData(a.Val))
			}
		}
		return sobek.Undefined()
	}
	o := s.rt.NewObject()
	for _, a := range node.Attr {
		if strings.HasPrefix(a.Key, "data-") {
			_ = o.Set(camel(strings.TrimPrefix(a.Key, "data-")), convertData(a.Val))
		}
	}
	return o
}

func kebab(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('-')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func camel(s string) string {
	parts := strings.Split(s, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// convertData converts a data-* value as jQuery does.
func convertData(v string) any {
	switch v {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && strconv.FormatFloat(f, 'f', -1, 64) == v {
		return f
	}
	if strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") {
		var x any
		if json.Unmarshal([]byte(v), &x) == nil {
			return x
		}
	}
	return v
}

// SerializeArray returns the successful fields of a form as [{name, value}].
func (s *Selection) SerializeArray() sobek.Value {
	var out []any
	for _, f := range s.fields() {
		o := s.rt.NewObject()
		_ = o.Set("name", f[0])
		_ = o.Set("value", f[1])
		out = append(out, o)
	}
	return s.rt.ToValue(s.rt.NewArray(out...))
}

// SerializeObject returns the successful fields of a form as {name: value}
// (an array of values for repeated names).
func (s *Selection) SerializeObject() sobek.Value {
	o := s.rt.NewObject()
	seen := map[string][]any{}
	var order []string
	for _, f := range s.fields() {
		if _, ok := seen[f[0]]; !ok {
			order = append(order, f[0])
		}
		seen[f[0]] = append(seen[f[0]], f[1])
	}
	for _, k := range order {
		if len(seen[k]) == 1 {
			_ = o.Set(k, seen[k][0])
		} else {
			_ = o.Set(k, s.rt.NewArray(seen[k]...))
		}
	}
	return o
}

// Serialize returns the successful fields of a form URL-encoded.
func (s *Selection) Serialize() string {
	var parts []string
	for _, f := range s.fields() {
		parts = append(parts, formEscape(f[0])+"="+formEscape(f[1]))
	}
	return strings.Join(parts, "&")
}

func formEscape(s string) string { return url.QueryEscape(s) }

// fields lists the named, enabled form fields of the selection (forms or
// fields) with their values, in document order.
func (s *Selection) fields() [][2]string {
	var out [][2]string
	fields := s.sel.Find("input, select, textarea").AddSelection(s.sel.Filter("input, select, textarea"))
	fields.Each(func(_ int, f *goquery.Selection) {
		name, ok := f.Attr("name")
		if !ok || name == "" {
			return
		}
		if _, disabled := f.Attr("disabled"); disabled {
			return
		}
		switch goquery.NodeName(f) {
		case "input":
			t, _ := f.Attr("type")
			switch strings.ToLower(t) {
			case "checkbox", "radio":
				if _, checked := f.Attr("checked"); !checked {
					return
				}
			case "submit", "button", "reset", "image", "file":
				return
			}
			v, ok := f.Attr("value")
			if !ok && (t == "checkbox" || t == "radio") {
				v = "on"
			}
			out = append(out, [2]string{name, v})
		case "textarea":
			out = append(out, [2]string{name, f.Text()})
		case "select":
			sel := f.Find("option[selected]")
			if sel.Length() == 0 {
				if _, multiple := f.Attr("multiple"); !multiple {
					sel = f.Find("option").First()
				}
			}
			sel.Each(func(_ int, o *goquery.Selection) { out = append(out, [2]string{name, optionValue(o)}) })
		}
	})
	return out
}

// element returns the Element view of a node.
func (s *Selection) element(n *html.Node) *Element { return &Element{rt: s.rt, n: n} }
