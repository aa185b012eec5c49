// Package groups is the run's group/check tree: the groups scripts enter
// with group() and the pass/fail counts of every check(). VUs mutate it on
// every check, concurrently; the summary renders a snapshot of it (Data).
// It lives apart from the rendering package so that summary only renders.
package groups

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tallyhq/tally/internal/summary"
)

// PathSeparator joins group names into paths: the root group's path is "",
// a top-level group's is "::name", a nested one "::outer::inner".
const PathSeparator = "::"

// Group is a node of the run's group tree, shared by all VUs. Children and
// checks keep the order in which they were first seen. Safe for concurrent use.
type Group struct {
	Name, Path, ID string
	Parent         *Group

	mu          sync.Mutex
	groups      []*Group
	groupByName map[string]*Group
	checks      []*Check
	checkByName map[string]*Check
}

// Check counts the passes and fails of one named check in one group.
type Check struct {
	Name, Path, ID string
	Group          *Group
	Passes, Fails  atomic.Int64
}

// NewRoot returns the root of a new group tree.
func NewRoot() *Group { return newGroup("", "", nil) }

func newGroup(name, path string, parent *Group) *Group {
	return &Group{Name: name, Path: path, ID: id(path), Parent: parent,
		groupByName: map[string]*Group{}, checkByName: map[string]*Check{}}
}

func id(path string) string {
	sum := md5.Sum([]byte(path))
	return hex.EncodeToString(sum[:])
}

// Group returns the child group called name, creating it on first use.
func (g *Group) Group(name string) (*Group, error) {
	if strings.Contains(name, PathSeparator) {
		return nil, fmt.Errorf("group name %q must not contain %q", name, PathSeparator)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.groupByName[name]; ok {
		return c, nil
	}
	c := newGroup(name, g.Path+PathSeparator+name, g)
	g.groupByName[name] = c
	g.groups = append(g.groups, c)
	return c, nil
}

// Check returns the check called name in g, creating it on first use.
func (g *Group) Check(name string) (*Check, error) {
	if strings.Contains(name, PathSeparator) {
		return nil, fmt.Errorf("check name %q must not contain %q", name, PathSeparator)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.checkByName[name]; ok {
		return c, nil
	}
	path := g.Path + PathSeparator + name
	c := &Check{Name: name, Path: path, ID: id(path), Group: g}
	g.checkByName[name] = c
	g.checks = append(g.checks, c)
	return c, nil
}

// Groups returns the child groups in first-seen order.
func (g *Group) Groups() []*Group {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*Group(nil), g.groups...)
}

// Checks returns the group's checks in first-seen order.
func (g *Group) Checks() []*Check {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*Check(nil), g.checks...)
}

// Data returns a snapshot of the tree rooted at g in summary-data form.
func (g *Group) Data() *summary.GroupData {
	d := &summary.GroupData{Name: g.Name, Path: g.Path, ID: g.ID, Groups: []*summary.GroupData{}, Checks: []*summary.CheckData{}}
	for _, c := range g.Groups() {
		d.Groups = append(d.Groups, c.Data())
	}
	for _, c := range g.Checks() {
		d.Checks = append(d.Checks, &summary.CheckData{Name: c.Name, Path: c.Path, ID: c.ID,
			Passes: c.Passes.Load(), Fails: c.Fails.Load()})
	}
	return d
}
