package spec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// setFile is the pseudo file name of positions in --set arguments; the line
// is the argument's number, counting from 1, and the column is in the
// "KEY=VALUE" text.
const setFile = "--set"

// setArg is one parsed --set KEY=VALUE argument.
type setArg struct {
	line  int // the argument's number, from 1
	segs  []setSeg
	value *yaml.Node
}

// setSeg is one element of a --set path: a key, or (isList) an index [N]
// or [+].
type setSeg struct {
	key    string
	isList bool
	index  int // segAppend for [+]
	col    int // column of the element in the argument
	path   string
}

// segAppend is the index of [+].
const segAppend = -1

// parseSets parses the --set arguments. A malformed one is an error and is
// left out of the result.
func (d *decoder) parseSets(args []string) []*setArg {
	var out []*setArg
	for i, arg := range args {
		line := i + 1
		at := func(col int) Pos { return Pos{File: setFile, Line: line, Col: col} }
		key, value, ok := strings.Cut(arg, "=")
		if !ok {
			d.errorAt(at(1), "", "--set %q: missing \"=\": write KEY=VALUE", shorten(arg))
			continue
		}
		segs, col, msg := parseSetPath(key)
		if msg != "" {
			d.errorAt(at(col), "", "--set key %q: %s", shorten(key), msg)
			continue
		}
		valueCol := utf8.RuneCountInString(key) + 1 // the column of "="
		root, errs := readDocument([]byte(value), func(l, c int) Pos {
			if l == 1 {
				c += valueCol
			}
			return at(c)
		})
		if len(errs) > 0 {
			for _, e := range errs {
				d.errorAt(e.Pos, segs[len(segs)-1].path, "%s", e.Msg)
			}
			continue
		}
		if root == nil { // KEY= sets null: the field is absent
			root = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: 1, Column: 1}
		}
		d.markSet(root, func(n *yaml.Node) Pos {
			if n.Line <= 1 {
				return at(valueCol + max(n.Column, 1))
			}
			return at(n.Column)
		})
		out = append(out, &setArg{line: line, segs: segs, value: root})
	}
	return out
}

// markSet records the position of n and every node under it.
func (d *decoder) markSet(n *yaml.Node, pos func(*yaml.Node) Pos) {
	if _, ok := d.origin[n]; ok || n == nil {
		return
	}
	d.origin[n] = pos(n)
	for _, c := range n.Content {
		d.markSet(c, pos)
	}
}

// parseSetPath parses a --set key: names separated by dots, each followed
// by any number of [N] or [+]. On error it returns the column of the
// problem and a message.
func parseSetPath(key string) ([]setSeg, int, string) {
	var segs []setSeg
	path := ""
	i, col := 0, 1
	for {
		end := strings.IndexAny(key[i:], ".[]")
		if end < 0 {
			end = len(key) - i
		}
		name := key[i : i+end]
		if name == "" {
			return nil, col, "empty name"
		}
		path = joinKey(path, name)
		segs = append(segs, setSeg{key: name, col: col, path: path})
		i += end
		col += utf8.RuneCountInString(name)
		for i < len(key) && key[i] == '[' {
			end := strings.IndexByte(key[i:], ']')
			if end < 0 {
				return nil, col, `missing "]"`
			}
			s := setSeg{col: col, isList: true}
			switch inner := key[i+1 : i+end]; {
			case inner == "+":
				s.index = segAppend
				path += "[+]"
			case inner != "" && strings.Trim(inner, "0123456789") == "":
				n, err := strconv.Atoi(inner)
				if err != nil {
					return nil, col, fmt.Sprintf("index %q is too large", shorten(inner))
				}
				s.index = n
				path = joinIndex(path, n)
			default:
				return nil, col, fmt.Sprintf("index %q must be a number or +", shorten(inner))
			}
			s.path = path
			segs = append(segs, s)
			col += utf8.RuneCountInString(key[i : i+end+1])
			i += end + 1
		}
		if i == len(key) {
			return segs, 0, ""
		}
		if key[i] != '.' {
			return nil, col, fmt.Sprintf("unexpected %q", key[i])
		}
		i++
		col++
	}
}

// own returns a copy of n (an alias resolved) that can be changed without
// changing n, which may be shared through aliases.
func (d *decoder) own(n *yaml.Node) *yaml.Node {
	r := resolve(n)
	if r == nil {
		r = n
	}
	c := *r
	c.Content = slices.Clone(r.Content)
	if p, ok := d.origin[r]; ok {
		d.origin[&c] = p
	}
	return &c
}

// apply returns root with one --set applied. The nodes on the path are
// copied, so root and its aliases stay as they were; on error root is
// returned unchanged.
func (d *decoder) apply(root *yaml.Node, s *setArg) *yaml.Node {
	at := func(seg setSeg) Pos { return Pos{File: setFile, Line: s.line, Col: seg.col} }
	newRoot := root
	slot := &newRoot
	parent := ""
	for _, seg := range s.segs {
		n := *slot
		if r := resolve(n); r == nil || isNull(r) {
			kind := yaml.MappingNode
			if seg.isList {
				kind = yaml.SequenceNode
			}
			n = &yaml.Node{Kind: kind}
			d.origin[n] = at(seg)
		} else {
			n = d.own(n)
		}
		*slot = n
		if !seg.isList {
			if n.Kind != yaml.MappingNode {
				d.errorAt(at(seg), parent, "cannot set %q: %s is %s, not a mapping", seg.key, describePath(parent), kindName(n))
				return root
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := resolve(n.Content[i]); k != nil && k.Kind == yaml.ScalarNode && k.Value == seg.key && k.ShortTag() != "!!merge" {
					slot, found = &n.Content[i+1], true
					break
				}
			}
			if !found {
				k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg.key}
				d.origin[k] = at(seg)
				n.Content = append(n.Content, k, nil)
				slot = &n.Content[len(n.Content)-1]
			}
		} else {
			if n.Kind != yaml.SequenceNode {
				d.errorAt(at(seg), parent, "cannot index: %s is %s, not a list", describePath(parent), kindName(n))
				return root
			}
			switch {
			case seg.index == segAppend:
				n.Content = append(n.Content, nil)
				slot = &n.Content[len(n.Content)-1]
			case seg.index >= len(n.Content):
				d.errorAt(at(seg), seg.path, "index %d out of range: %s has %d entries (use [+] to append)", seg.index, parent, len(n.Content))
				return root
			default:
				slot = &n.Content[seg.index]
			}
		}
		parent = seg.path
	}
	*slot = s.value
	return newRoot
}

// describePath names path in a message.
func describePath(path string) string {
	if path == "" {
		return "the profile"
	}
	return path
}

// kindName names the kind of n in a message.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	case yaml.DocumentNode:
		return "a document"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a node"
}
