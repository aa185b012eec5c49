package k6html

import (
	"bytes"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"github.com/grafana/sobek"
	"golang.org/x/net/html"
)

// Element is one DOM node, as Selection.get() and each() hand it out.
// Scripts see its methods with lower-case first letters (nodeName(),
// textContent(), getAttribute(), ...).
type Element struct {
	rt *sobek.Runtime
	n  *html.Node
}

func (e *Element) sel() *goquery.Selection { return goquery.NewDocumentFromNode(e.n).Selection }

func (e *Element) wrap(n *html.Node) sobek.Value {
	if n == nil {
		return sobek.Undefined()
	}
	return e.rt.ToValue(&Element{rt: e.rt, n: n})
}

// NodeName returns the lower-case tag name ("#text" for text nodes).
func (e *Element) NodeName() string {
	switch e.n.Type {
	case html.TextNode:
		return "#text"
	case html.CommentNode:
		return "#comment"
	case html.DocumentNode:
		return "#document"
	}
	return strings.ToLower(e.n.Data)
}

// NodeType returns the DOM node type (1 element, 3 text, 8 comment, 9
// document, 10 doctype).
func (e *Element) NodeType() int {
	switch e.n.Type {
	case html.ElementNode:
		return 1
	case html.TextNode:
		return 3
	case html.CommentNode:
		return 8
	case html.DocumentNode:
		return 9
	case html.DoctypeNode:
		return 10
	}
	return 0
}

// NodeValue returns the text of a text or comment node, null otherwise.
func (e *Element) NodeValue() sobek.Value {
	if e.n.Type == html.TextNode || e.n.Type == html.CommentNode {
		return e.rt.ToValue(e.n.Data)
	}
	return sobek.Null()
}

// TextContent returns the text of the node and its descendants.
func (e *Element) TextContent() string { return e.sel().Text() }

// InnerHTML returns the HTML inside the node.
func (e *Element) InnerHTML() string {
	h, _ := e.sel().Html()
	return h
}

// OuterHTML returns the node's own HTML.
func (e *Element) OuterHTML() string {
	var b bytes.Buffer
	_ = html.Render(&b, e.n)
	return b.String()
}

// GetAttribute returns an attribute, or undefined when it is missing.
func (e *Element) GetAttribute(name string) sobek.Value {
	for _, a := range e.n.Attr {
		if a.Key == name {
			return e.rt.ToValue(a.Val)
		}
	}
	return sobek.Undefined()
}

// HasAttribute reports whether the attribute is present.
func (e *Element) HasAttribute(name string) bool {
	for _, a := range e.n.Attr {
		if a.Key == name {
			return true
		}
	}
	return false
}

// HasAttributes reports whether the node has any attribute.
func (e *Element) HasAttributes() bool { return len(e.n.Attr) > 0 }

// Attributes returns the attributes as an object {name: value}.
func (e *Element) Attributes() sobek.Value {
	o := e.rt.NewObject()
	for _, a := range e.n.Attr {
		_ = o.Set(a.Key, a.Val)
	}
	return o
}

// Id returns the id attribute ("" when missing).
func (e *Element) Id() string { //nolint:revive // the JS name is id()
	v, _ := e.sel().Attr("id")
	return v
}

// ClassName returns the class attribute ("" when missing).
func (e *Element) ClassName() string {
	v, _ := e.sel().Attr("class")
	return v
}

// ClassList returns the classes as an array.
func (e *Element) ClassList() []string { return strings.Fields(e.ClassName()) }

// Children returns the child elements.
func (e *Element) Children() sobek.Value {
	var out []any
	for c := e.n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			out = append(out, &Element{rt: e.rt, n: c})
		}
	}
	return e.rt.ToValue(e.rt.NewArray(out...))
}

// ChildNodes returns every child node, text included.
func (e *Element) ChildNodes() sobek.Value {
	var out []any
	for c := e.n.FirstChild; c != nil; c = c.NextSibling {
		out = append(out, &Element{rt: e.rt, n: c})
	}
	return e.rt.ToValue(e.rt.NewArray(out...))
}

// HasChildNodes reports whether the node has children.
func (e *Element) HasChildNodes() bool { return e.n.FirstChild != nil }

// FirstChild returns the first child node, or undefined.
func (e *Element) FirstChild() sobek.Value { return e.wrap(e.n.FirstChild) }

// LastChild returns the last child node, or undefined.
func (e *Element) LastChild() sobek.Value { return e.wrap(e.n.LastChild) }

// ParentNode returns the parent node, or undefined.
func (e *Element) ParentNode() sobek.Value { return e.wrap(e.n.Parent) }

// ParentElement returns the parent element, or undefined.
func (e *Element) ParentElement() sobek.Value {
	if e.n.Parent == nil || e.n.Parent.Type != html.ElementNode {
		return sobek.Undefined()
	}
	return e.wrap(e.n.Parent)
}

// NextElementSibling returns the next sibling element, or undefined.
func (e *Element) NextElementSibling() sobek.Value {
	for c := e.n.NextSibling; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			return e.wrap(c)
		}
	}
	return sobek.Undefined()
}

// PreviousElementSibling returns the previous sibling element, or undefined.
func (e *Element) PreviousElementSibling() sobek.Value {
	for c := e.n.PrevSibling; c != nil; c = c.PrevSibling {
		if c.Type == html.ElementNode {
			return e.wrap(c)
		}
	}
	return sobek.Undefined()
}

// QuerySelector returns the first descendant matching a CSS selector, or
// undefined.
func (e *Element) QuerySelector(selector string) sobek.Value {
	f := e.sel().Find(selector)
	if f.Length() == 0 {
		return sobek.Undefined()
	}
	return e.wrap(f.Nodes[0])
}

// QuerySelectorAll returns the descendants matching a CSS selector.
func (e *Element) QuerySelectorAll(selector string) sobek.Value {
	var out []any
	for _, n := range e.sel().Find(selector).Nodes {
		out = append(out, &Element{rt: e.rt, n: n})
	}
	return e.rt.ToValue(e.rt.NewArray(out...))
}

// Matches reports whether the node matches a CSS selector.
func (e *Element) Matches(selector string) bool { return e.sel().Is(selector) }

// Selection returns the node as a Selection.
func (e *Element) Selection() *Selection { return &Selection{rt: e.rt, sel: e.sel()} }

// ToString returns "[object html.Node]"-style text naming the tag.
func (e *Element) ToString() string { return "[object " + e.NodeName() + "]" }
