package spec

import (
	"bytes"
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

// YAML prints the profile as it is resolved: after extends (which is left
// out, its parents' values being printed), variables and --set, with the
// choices left at their defaults written out (namespaces, network and
// security modes). Values that were not written and have no meaningful
// default are left out. The output parses back to an equal profile. With
// origins, each value ends with a comment giving the file:line:col it
// came from, or "default"; a list element printed on one line gets the
// file:line of its values.
func (p *Profile) YAML(origins bool) ([]byte, error) {
	s := &shower{p: p, origins: origins}
	root, _ := s.node(reflect.ValueOf(p).Elem(), "")
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("print profile %s: %w", p.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("print profile %s: %w", p.Name, err)
	}
	return b.Bytes(), nil
}

// yaml11Bool are the words YAML 1.1 reads as booleans.
var yaml11Bool = map[string]bool{"y": true, "n": true, "yes": true, "no": true, "on": true, "off": true}

// shower turns a Profile into a yaml.Node tree.
type shower struct {
	p       *Profile
	origins bool
}

// origin is the comment that says where the value at path came from.
func (s *shower) origin(path string) string {
	if !s.origins {
		return ""
	}
	if !s.p.Given(path) {
		return "default"
	}
	return s.p.At(path).String()
}

// isEnum reports whether t is a named choice whose zero value is a
// default worth printing (Share, NetMode, SeccompMode, LandlockMode).
func isEnum(t reflect.Type) bool {
	// MountType, SetGroups, Propagation and DeviceType have no name for
	// their zero value.
	switch t {
	case reflect.TypeFor[MountType](), reflect.TypeFor[SetGroups](), reflect.TypeFor[Propagation](), reflect.TypeFor[DeviceType]():
		return false
	}
	return t.Kind() == reflect.Uint8 && t.Implements(textMarshalerType)
}

// node returns the node of v at path, and false when v is left out.
func (s *shower) node(v reflect.Value, path string) (*yaml.Node, bool) {
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, false
		}
		return s.node(v.Elem(), path)
	}
	given := s.p.Given(path)
	if r, ok := v.Interface().(Rlimit); ok {
		// Written as the profile reads it: one value, or soft and hard.
		if r.Soft == r.Hard {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: r.Soft.String(), LineComment: s.origin(path)}, true
		}
		return &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle, LineComment: s.origin(path), Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "soft"}, {Kind: yaml.ScalarNode, Tag: "!!str", Value: r.Soft.String()},
			{Kind: yaml.ScalarNode, Value: "hard"}, {Kind: yaml.ScalarNode, Tag: "!!str", Value: r.Hard.String()},
		}}, true
	}
	if t.Implements(textMarshalerType) {
		if v.IsZero() && !given && !isEnum(t) {
			return nil, false
		}
		text, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			text = []byte(fmt.Sprint(v.Interface()))
		}
		// Tagged as a string, so that "0755" is quoted and stays text.
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: string(text), LineComment: s.origin(path)}, true
	}
	switch t.Kind() {
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range YAMLFields(t) {
			fp := joinKey(path, f.Name)
			if fp == "extends" {
				continue // resolved: the parents' values are printed
			}
			c, ok := s.node(v.FieldByIndex(f.Index), fp)
			if !ok {
				continue
			}
			k := &yaml.Node{Kind: yaml.ScalarNode, Value: f.Name}
			if c.Kind != yaml.ScalarNode && c.Style != yaml.FlowStyle {
				k.LineComment, c.LineComment = c.LineComment, ""
			}
			n.Content = append(n.Content, k, c)
		}
		if len(n.Content) == 0 && !given {
			return nil, false
		}
		n.LineComment = s.origin(path)
		if strings.HasSuffix(path, "]") && s.flat(n) {
			n.Style = yaml.FlowStyle
		}
		return n, true
	case reflect.Map:
		if v.Len() == 0 && !given {
			return nil, false
		}
		n := &yaml.Node{Kind: yaml.MappingNode, LineComment: s.origin(path)}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			switch {
			case a.String() < b.String():
				return -1
			case a.String() > b.String():
				return 1
			}
			return 0
		})
		for _, k := range keys {
			c, ok := s.node(v.MapIndex(k), joinKey(path, k.String()))
			if !ok {
				c = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ""}
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k.String()}, c)
		}
		return n, true
	case reflect.Slice:
		if v.Len() == 0 && !given {
			return nil, false
		}
		n := &yaml.Node{Kind: yaml.SequenceNode, LineComment: s.origin(path)}
		scalars := true
		for i := range v.Len() {
			c, ok := s.node(v.Index(i), joinIndex(path, i))
			if !ok {
				c = &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
			}
			if c.Kind != yaml.ScalarNode {
				scalars = false
			}
			if c.Kind != yaml.ScalarNode && c.Style != yaml.FlowStyle {
				c.LineComment = "" // its values carry their own
			}
			n.Content = append(n.Content, c)
		}
		if scalars {
			n.Style = yaml.FlowStyle
			for _, c := range n.Content {
				c.LineComment = ""
			}
		}
		return n, true
	case reflect.String:
		if v.String() == "" && !given {
			return nil, false
		}
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String(), LineComment: s.origin(path)}
		if yaml11Bool[strings.ToLower(v.String())] {
			n.Style = yaml.DoubleQuotedStyle // a YAML 1.1 reader would take it for a boolean
		}
		return n, true
	case reflect.Bool:
		if !v.Bool() && !given {
			return nil, false
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool()), LineComment: s.origin(path)}, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() == 0 && !given {
			return nil, false
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10), LineComment: s.origin(path)}, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() == 0 && !given {
			return nil, false
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(v.Uint(), 10), LineComment: s.origin(path)}, true
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Value: fmt.Sprint(v.Interface()), LineComment: s.origin(path)}, true
}

// flat reports whether the list element n holds only scalars and flow
// collections, so that it reads best on one line, as a mount does. With
// origins, an element whose values came from more than one line stays in
// block style, one comment per value; a flat one gets the comment of its
// first value's line.
func (s *shower) flat(n *yaml.Node) bool {
	line := func(c string) string {
		if i := strings.LastIndexByte(c, ':'); i >= 0 && c != "default" {
			return c[:i]
		}
		return c
	}
	first := ""
	for i := 1; i < len(n.Content); i += 2 {
		c := n.Content[i]
		if c.Kind != yaml.ScalarNode && c.Style != yaml.FlowStyle {
			return false
		}
		if s.origins && c.LineComment != "default" {
			if first != "" && line(c.LineComment) != line(first) {
				return false
			}
			if first == "" {
				first = c.LineComment
			}
		}
	}
	if s.origins {
		for i := 1; i < len(n.Content); i += 2 {
			n.Content[i].LineComment = ""
		}
		n.LineComment = line(first)
	}
	return true
}
