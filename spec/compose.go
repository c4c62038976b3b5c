package spec

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Composition: a profile may extend parents, merged under it before --set
// overrides, variables and validation, so that the result is checked as a
// whole and every value keeps the position where it was written, in
// whichever file that was.
//
//	extends: [default, ./team.yaml]   # or one name: extends: default
//
// A parent is a built-in name or a path relative to the file that names
// it; Options.Load reads it (Parse opens nothing). Parents may extend
// others; a cycle is an error. Parents are merged in order, each over the
// previous one, then the file itself over them all, by these rules:
//
//   - mappings merge key by key, recursively: a key the child sets
//     replaces the parent's value, and "key: null" (or "~") resets it to
//     its default; in process.env and security.rlimits, null removes the
//     parent's entry;
//   - filesystem.mounts merge by target: a child mount with the target of
//     a parent's mount replaces that mount where it stands, others are
//     appended, so a parent's mounts stay listed before the child's;
//   - process.args, ids.uidMap, ids.gidMap and ids.groups are replaced
//     whole: a command line or an ID map is one value;
//   - every other list (passEnv, inheritFds, capabilities, seccomp rules,
//     landlock paths, io devices) is appended to, leaving out a scalar the
//     parent already lists;
//   - a list or mapping tagged !replace replaces the parent's whole
//     value instead of merging with it: "mounts: !replace [...]".
//
// An error in a parent is reported at the parent's file:line:col, followed
// by the chain of extends that included it.

// Parents are the profiles a profile extends, in merge order.
type Parents []string

// jsonSchema is the schema of Parents: one name or a list of names.
func (Parents) jsonSchema() *schema {
	name := &schema{Type: "string", Pattern: `\S`}
	return &schema{AnyOf: []*schema{name, {Type: "array", Items: name}}}
}

// maxDepth bounds the chain of extends.
const maxDepth = 16

// replacedLists are the lists a child replaces whole.
var replacedLists = []string{"process.args", "ids.uidMap", "ids.gidMap", "ids.groups"}

// replaceTag marks a list or mapping that replaces the parent's.
const replaceTag = "!replace"

// composer holds the state of one Parse's composition.
type composer struct {
	d    *decoder
	load func(name, from string) (string, []byte, error)
	// via maps a parent file to the position of the extends entry that
	// included it.
	via map[string]Pos
	// active are the files being composed, innermost last, for cycles.
	active []string
}

// compose merges the parents root extends under it, read with load, and
// returns the result, recording each parent node's position in d.origin.
// via maps each parent file to the extends entry that included it.
func (d *decoder) compose(root *yaml.Node, load func(name, from string) (string, []byte, error)) (out *yaml.Node, via map[string]Pos) {
	c := &composer{d: d, load: load, via: make(map[string]Pos)}
	return c.file(root, d.file, 0), c.via
}

// file composes the document root of file.
func (c *composer) file(root *yaml.Node, file string, depth int) *yaml.Node {
	if root == nil || root.Kind != yaml.MappingNode {
		return root
	}
	var names []*yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.Value != "extends" || v == nil {
			continue
		}
		switch {
		case v.Kind == yaml.ScalarNode && !isNull(v):
			// One name: make it a list, so that it decodes into Parents.
			seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: v.Line, Column: v.Column, Content: []*yaml.Node{v}}
			if p, ok := c.d.origin[v]; ok {
				c.d.origin[seq] = p
			}
			root.Content[i+1] = seq
			names = seq.Content
		case v.Kind == yaml.SequenceNode:
			names = v.Content
		}
	}
	if len(names) == 0 {
		return root
	}
	c.active = append(c.active, file)
	defer func() { c.active = c.active[:len(c.active)-1] }()
	var base *yaml.Node
	for i, n := range names {
		n = resolve(n)
		path := joinIndex("extends", i)
		if n == nil || n.Kind != yaml.ScalarNode || isNull(n) || strings.TrimSpace(n.Value) == "" {
			continue // decoding Parents says what is wrong
		}
		parent := c.parent(n, path, file, depth)
		if parent == nil {
			continue
		}
		if base == nil {
			base = parent
		} else {
			base = c.merge(base, parent, "")
		}
	}
	if base == nil {
		return root
	}
	return c.merge(base, root, "")
}

// parent reads, composes and returns the parent named by the scalar n of
// file, or nil after recording an error.
func (c *composer) parent(n *yaml.Node, path, file string, depth int) *yaml.Node {
	d := c.d
	at := d.pos(n)
	if c.load == nil {
		d.errorAt(at, path, "extends %q: parents cannot be read here", shorten(n.Value))
		return nil
	}
	if depth+1 >= maxDepth {
		d.errorAt(at, path, "extends %q: more than %d levels of extends", shorten(n.Value), maxDepth)
		return nil
	}
	pfile, data, err := c.load(n.Value, file)
	if err != nil {
		d.errorAt(at, path, "extends %q: %v", shorten(n.Value), err)
		return nil
	}
	for i, f := range c.active {
		if f == pfile {
			chain := append(append([]string(nil), c.active[i:]...), pfile)
			d.errorAt(at, path, "extends %q: a cycle: %s", shorten(n.Value), strings.Join(chain, " -> "))
			return nil
		}
	}
	if _, seen := c.via[pfile]; !seen {
		c.via[pfile] = at
	}
	proot, errs := readDocument(data, func(line, col int) Pos { return Pos{File: pfile, Line: line, Col: col} })
	d.errs = append(d.errs, errs...)
	if proot == nil {
		if len(errs) == 0 {
			d.errorAt(at, path, "extends %q: %s is empty", shorten(n.Value), pfile)
		}
		return nil
	}
	if proot.Kind != yaml.MappingNode {
		d.errorAt(Pos{File: pfile, Line: proot.Line, Col: proot.Column}, "", "a profile must be a mapping")
		return nil
	}
	c.place(proot, pfile)
	proot = c.file(proot, pfile, depth+1)
	// The parent's own extends and identity are not the child's.
	return without(proot, "extends")
}

// place records the position of every node under n as being in file.
func (c *composer) place(n *yaml.Node, file string) {
	if n == nil {
		return
	}
	if _, ok := c.d.origin[n]; ok {
		return
	}
	c.d.origin[n] = Pos{File: file, Line: n.Line, Col: n.Column}
	for _, k := range n.Content {
		c.place(k, file)
	}
	if n.Alias != nil {
		c.place(n.Alias, file)
	}
}

// without returns a copy of the mapping m without the entry key.
func without(m *yaml.Node, key string) *yaml.Node {
	out := *m
	out.Content = nil
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			continue
		}
		out.Content = append(out.Content, m.Content[i], m.Content[i+1])
	}
	return &out
}

// copyNode returns a shallow copy of n with n's position.
func (c *composer) copyNode(n *yaml.Node) *yaml.Node {
	out := *n
	if p, ok := c.d.origin[n]; ok {
		c.d.origin[&out] = p
	}
	return &out
}

// merge returns over merged onto base, at the field path path.
func (c *composer) merge(base, over *yaml.Node, path string) *yaml.Node {
	b, o := resolve(base), resolve(over)
	if b == nil || o == nil {
		return over
	}
	if o.Tag == replaceTag {
		r := c.copyNode(o)
		r.Tag = ""
		return r
	}
	switch {
	case b.Kind == yaml.MappingNode && o.Kind == yaml.MappingNode:
		return c.mergeMaps(b, o, path)
	case b.Kind == yaml.SequenceNode && o.Kind == yaml.SequenceNode:
		return c.mergeLists(b, o, path)
	}
	return over
}

// mergeMaps merges two mappings key by key: the base's keys in order, then
// the keys only over has.
func (c *composer) mergeMaps(b, o *yaml.Node, path string) *yaml.Node {
	out := c.copyNode(o)
	out.Content = nil
	overAt := make(map[string]int)
	for i := 0; i+1 < len(o.Content); i += 2 {
		if k := o.Content[i]; k.Kind == yaml.ScalarNode {
			overAt[k.Value] = i
		}
	}
	used := make(map[int]bool)
	for i := 0; i+1 < len(b.Content); i += 2 {
		k, v := b.Content[i], b.Content[i+1]
		j, ok := overAt[k.Value]
		if k.Kind != yaml.ScalarNode || !ok {
			out.Content = append(out.Content, k, v)
			continue
		}
		used[j] = true
		ov := o.Content[j+1]
		if isNull(ov) {
			out.Content = append(out.Content, o.Content[j], ov)
			continue
		}
		out.Content = append(out.Content, o.Content[j], c.merge(v, ov, joinKey(path, k.Value)))
	}
	for i := 0; i+1 < len(o.Content); i += 2 {
		if !used[i] {
			v := o.Content[i+1]
			if r := resolve(v); r != nil && r.Tag == replaceTag {
				v = c.copyNode(r)
				v.Tag = ""
			}
			out.Content = append(out.Content, o.Content[i], v)
		}
	}
	return out
}

// mergeLists merges two sequences by the rule of path.
func (c *composer) mergeLists(b, o *yaml.Node, path string) *yaml.Node {
	for _, r := range replacedLists {
		if path == r {
			return o
		}
	}
	out := c.copyNode(o)
	out.Content = append([]*yaml.Node(nil), b.Content...)
	if path == "filesystem.mounts" {
		for _, m := range o.Content {
			t := mountTarget(m)
			replaced := false
			for i, bm := range out.Content {
				if t != "" && mountTarget(bm) == t {
					out.Content[i], replaced = m, true
					break
				}
			}
			if !replaced {
				out.Content = append(out.Content, m)
			}
		}
		return out
	}
	for _, n := range o.Content {
		if r := resolve(n); r != nil && r.Kind == yaml.ScalarNode && containsScalar(b.Content, r.Value) {
			continue
		}
		out.Content = append(out.Content, n)
	}
	return out
}

// mountTarget returns the target written in the mount mapping n, or "".
func mountTarget(n *yaml.Node) string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "target" {
			if v := resolve(n.Content[i+1]); v != nil && v.Kind == yaml.ScalarNode {
				return v.Value
			}
		}
	}
	return ""
}

// containsScalar reports whether ns holds a scalar with value v.
func containsScalar(ns []*yaml.Node, v string) bool {
	for _, n := range ns {
		if r := resolve(n); r != nil && r.Kind == yaml.ScalarNode && r.Value == v {
			return true
		}
	}
	return false
}

// chain says through which extends the file was included: "extended at
// b.yaml:2:10, extended at a.yaml:3:10"; "" for the profile's own file.
func chain(via map[string]Pos, file string) string {
	var parts []string
	for range maxDepth {
		p, ok := via[file]
		if !ok {
			break
		}
		parts = append(parts, "extended at "+p.String())
		file = p.File
	}
	return strings.Join(parts, ", ")
}

// placeChain adds to each error in a parent file the chain that included
// it.
func placeChain(errs ErrorList, via map[string]Pos) {
	for _, e := range errs {
		if ch := chain(via, e.Pos.File); ch != "" {
			e.Msg = fmt.Sprintf("%s (%s)", e.Msg, ch)
		}
	}
}
