package spec

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// maxValues bounds the values one profile may decode into, counting every
// use of an alias. Profile's types are too shallow for aliases to expand a
// small file into much work today; the bound keeps it so whatever types
// are added.
const maxValues = 100000

// decoder turns a yaml.Node tree into a Profile with yaml.v3's node
// positions, expanding variables in every string scalar on the way. It
// collects every error instead of stopping at the first.
type decoder struct {
	file  string
	lines []string // the file's lines, to place errors inside a scalar
	sets  []string // the --set arguments, for the same
	vars  *Vars
	prof  *Profile
	// origin holds the positions of nodes that came from --set arguments.
	origin map[*yaml.Node]Pos
	errs   ErrorList
	// failed holds the paths of values that had a decode error.
	failed map[string]bool
	// active holds the alias targets being decoded, to catch cycles.
	active map[*yaml.Node]bool
	budget int
	// literal turns off variable expansion, for ParseNode.
	literal bool
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// pos returns where n was written.
func (d *decoder) pos(n *yaml.Node) Pos {
	if p, ok := d.origin[n]; ok {
		return p
	}
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

// errorAt records an error at pos.
func (d *decoder) errorAt(pos Pos, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// errorf records an error in the value n and marks path as failed, so that
// validation says nothing more about it.
func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errorAt(d.pos(n), path, format, args...)
	d.failed[path] = true
}

// isNull reports whether n is a null scalar ("key:", "~", "null").
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// resolve follows aliases. It returns nil for a dangling or self-referring
// alias.
func resolve(n *yaml.Node) *yaml.Node {
	for range 100 {
		if n == nil || n.Kind != yaml.AliasNode {
			return n
		}
		n = n.Alias
	}
	return nil
}

// value decodes n into v, which must be settable, and records the position
// of n under path. A null node leaves v alone; value reports whether n was
// not null.
func (d *decoder) value(n *yaml.Node, path string, v reflect.Value) bool {
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.errorf(n, path, "the profile is too large: more than %d values, counting each use of an alias", maxValues)
		}
		return false
	}
	if n.Kind == yaml.AliasNode {
		t := n.Alias
		if t == nil {
			d.errorf(n, path, "alias *%s refers to nothing", n.Value)
			return false
		}
		if d.active[t] {
			d.errorf(n, path, "alias *%s refers to a value that contains it", n.Value)
			return false
		}
		d.active[t] = true
		defer delete(d.active, t)
		return d.value(t, path, v)
	}
	if isNull(n) {
		return false
	}
	d.prof.positions[path] = d.pos(n)
	d.typed(n, path, v)
	return true
}

// typed decodes the non-null, non-alias node n into v.
func (d *decoder) typed(n *yaml.Node, path string, v reflect.Value) {
	if v.Kind() != reflect.Pointer && v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		d.unmarshaler(n, path, v.Addr().Interface().(yaml.Unmarshaler))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		d.typed(n, path, e.Elem())
		v.Set(e)
	case reflect.Struct:
		d.structure(n, path, v)
	case reflect.Map:
		d.mapping(n, path, v)
	case reflect.Slice:
		d.list(n, path, v)
	case reflect.String:
		if msg := d.notString(n); msg != "" {
			d.errorf(n, path, "%s", msg)
			return
		}
		if s, ok := d.scalar(n, path, "must be a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path, "must be true or false"); ok {
			if tag := d.tagOf(n, s); tag != "!!bool" {
				d.errorf(n, path, "must be true or false, not %s", describe(n, s, tag, "!!bool"))
				return
			}
			switch s {
			case "true", "True", "TRUE":
				v.SetBool(true)
			case "false", "False", "FALSE":
				v.SetBool(false)
			default:
				d.errorf(n, path, "must be true or false, not %q", shorten(s))
			}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if s, ok := d.scalar(n, path, "must be an integer"); ok {
			// A float is left to integer, which says why it is not one
			// (a fraction, or out of range).
			if tag := d.tagOf(n, s); tag != "!!int" && tag != "!!float" {
				d.errorf(n, path, "must be an integer, not %s", describe(n, s, tag, "!!int"))
				return
			}
			d.integer(n, path, s, v)
		}
	default:
		// Only reachable if a field of an unsupported type is added to
		// Profile; TestParseFull, which sets every field, catches that.
		d.errorf(n, path, "cannot decode into a Go %s", v.Type())
	}
}

// unmarshaler calls u with n, its text expanded if it is a scalar. An error
// u returns is placed at n. A scalar with a variable is given to u as if
// its expansion had been written plain, so that its tag says what the
// expansion looks like.
func (d *decoder) unmarshaler(n *yaml.Node, path string, u yaml.Unmarshaler) {
	arg := n
	if n.Kind == yaml.ScalarNode {
		s, ok := d.expand(n, path)
		if !ok {
			return
		}
		c := *n
		c.Value = s
		if s != n.Value {
			c.Tag, c.Style = plainTag(s), 0
		}
		arg = &c
	}
	if err := u.UnmarshalYAML(arg); err != nil {
		d.errorf(n, path, "%s", err)
	}
}

// Profiles are YAML 1.2, as yaml.v3 and editors read them, and are read
// strictly, so that no value means one thing to cell and another to a
// YAML 1.1 reader or to a JSON Schema validator: where a string is
// expected a number, true or false must be quoted, and the words that
// YAML 1.1 reads as booleans (yes, no, on, off, y, n) too; where a boolean
// or a number is expected, a quoted one is refused. A value with a
// ${...} variable is typed by its expansion. --set values are exempt
// from the first rule: on a command line, --set env.X=1 means the
// string.

// yaml11Bools are the plain scalars YAML 1.1 reads as booleans and YAML
// 1.2 as strings (other than true and false).
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"n": true, "N": true, "no": true, "No": true, "NO": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
}

// plainTag returns the tag YAML 1.2 gives s written as a plain scalar.
func plainTag(s string) string {
	return (&yaml.Node{Kind: yaml.ScalarNode, Value: s}).ShortTag()
}

// isPlain reports whether the scalar n is written without quotes or a
// block style.
func isPlain(n *yaml.Node) bool {
	return n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0
}

// notString says why the node n cannot be a string, or returns "".
func (d *decoder) notString(n *yaml.Node) string {
	if _, set := d.origin[n]; set || n.Kind != yaml.ScalarNode {
		return ""
	}
	switch tag := n.ShortTag(); {
	case tag == "!!bool" || tag == "!!int" || tag == "!!float":
		return fmt.Sprintf("must be a string, not the %s %s: write it in quotes (\"%s\")", tagName(tag), shorten(n.Value), shorten(n.Value))
	case tag == "!!str" && isPlain(n) && yaml11Bools[n.Value]:
		return fmt.Sprintf("%s is a boolean in YAML 1.1 and a string in YAML 1.2: write \"%s\" in quotes for the string", n.Value, n.Value)
	}
	return ""
}

// tagOf returns the tag of the scalar n whose expanded text is s: n's own,
// or, if s came from a variable, the tag of s written plain.
func (d *decoder) tagOf(n *yaml.Node, s string) string {
	if s != n.Value {
		return plainTag(s)
	}
	return n.ShortTag()
}

// describe names the value s of n, whose tag is tag, where want was
// expected, for an error.
func describe(n *yaml.Node, s, tag, want string) string {
	switch {
	case tag == "!!str" && isPlain(n) && yaml11Bools[s]:
		return fmt.Sprintf("%s (a string in YAML 1.2, which profiles are)", s)
	case tag == "!!str" && plainTag(s) == want:
		return fmt.Sprintf("the quoted %q: write it without quotes", shorten(s))
	case tag == "!!str":
		return fmt.Sprintf("%q", shorten(s))
	}
	return fmt.Sprintf("the %s %s", tagName(tag), shorten(s))
}

// tagName returns a YAML tag in words.
func tagName(tag string) string {
	switch tag {
	case "!!bool":
		return "boolean"
	case "!!int":
		return "integer"
	case "!!float":
		return "number"
	case "!!timestamp":
		return "date"
	}
	return strings.TrimPrefix(tag, "!!")
}

// scalar returns the expanded text of the scalar n, or records kindMsg as an
// error if n is not a scalar.
func (d *decoder) scalar(n *yaml.Node, path, kindMsg string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "%s", kindMsg)
		return "", false
	}
	return d.expand(n, path)
}

// expand returns the text of the scalar n with its variables expanded.
// Each bad reference is an error at its own column when that can be found.
func (d *decoder) expand(n *yaml.Node, path string) (string, bool) {
	if d.literal {
		return n.Value, true
	}
	s, errs := d.vars.expand(n.Value)
	for _, e := range errs {
		d.errorAt(d.posIn(n, e.off), path, "%s", e.msg)
		d.failed[path] = true
	}
	return s, len(errs) == 0
}

// posIn returns the position of byte off of the scalar n's value: exact
// for a plain or quoted scalar on one line whose text up to off is written
// literally in the source, else the position of n.
func (d *decoder) posIn(n *yaml.Node, off int) Pos {
	p := d.pos(n)
	var line string
	switch {
	case p.File == d.file && p.Line >= 1 && p.Line <= len(d.lines):
		line = d.lines[p.Line-1]
	case p.File == setFile && n.Line == 1 && p.Line >= 1 && p.Line <= len(d.sets):
		line = d.sets[p.Line-1]
	default:
		return p
	}
	start := p.Col
	switch n.Style {
	case 0:
	case yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle:
		start++
	default:
		return p
	}
	i := 0 // byte index of column start in line
	for col := 1; col < start; col++ {
		if i >= len(line) {
			return p
		}
		_, w := utf8.DecodeRuneInString(line[i:])
		i += w
	}
	prefix := n.Value[:off]
	if !strings.HasPrefix(line[i:], prefix) {
		return p
	}
	p.Col = start + utf8.RuneCountInString(prefix)
	return p
}

// entries checks that n is a mapping and calls f with each entry whose key
// is a string, after reporting merge keys, non-string and duplicate keys.
// It records the position of each key.
func (d *decoder) entries(n *yaml.Node, path string, f func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping")
		return
	}
	seen := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if r := resolve(k); r != nil && r.Kind == yaml.ScalarNode {
			k = r
		}
		switch {
		case k.Kind != yaml.ScalarNode:
			d.errorAt(d.pos(k), path, "keys must be strings")
			continue
		case k.ShortTag() == "!!merge":
			d.errorAt(d.pos(k), path, "merge keys (<<) are not supported: write the entries out")
			continue
		}
		key := k.Value
		p := joinKey(path, key)
		if first, ok := seen[key]; ok {
			fp := d.pos(first)
			where := fp.String()
			if fp.File == d.file {
				where = fmt.Sprintf("%d:%d", fp.Line, fp.Col)
			}
			d.errorAt(d.pos(k), p, "duplicate key %q (first set at %s)", shorten(key), where)
			continue
		}
		seen[key] = k
		d.prof.keys[p] = d.pos(k)
		f(key, k, v)
	}
}

// structure decodes a mapping into the struct v by the fields' yaml tags.
func (d *decoder) structure(n *yaml.Node, path string, v reflect.Value) {
	fields := YAMLFields(v.Type())
	d.entries(n, path, func(key string, k, val *yaml.Node) {
		p := joinKey(path, key)
		for _, f := range fields {
			if f.Name == key {
				d.value(val, p, v.FieldByIndex(f.Index))
				return
			}
		}
		msg := fmt.Sprintf("unknown key %q", shorten(key))
		names := make([]string, len(fields))
		for i, f := range fields {
			names[i] = f.Name
		}
		if s, ok := closest(key, names); ok {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else {
			msg += " (allowed: " + strings.Join(names, ", ") + ")"
		}
		d.errorf(k, p, "%s", msg)
	})
}

// mapping decodes a mapping into the map v, whose keys are strings. Null
// values leave their key out.
func (d *decoder) mapping(n *yaml.Node, path string, v reflect.Value) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.errorf(n, path, "cannot decode into a Go %s", t)
		return
	}
	d.entries(n, path, func(key string, _, val *yaml.Node) {
		e := reflect.New(t.Elem()).Elem()
		if d.value(val, joinKey(path, key), e) {
			if v.IsNil() {
				v.Set(reflect.MakeMap(t))
			}
			v.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), e)
		}
	})
	if v.IsNil() && n.Kind == yaml.MappingNode {
		v.Set(reflect.MakeMap(t))
	}
}

// list decodes a sequence into the slice v.
func (d *decoder) list(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list")
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		// A null item would be a zero value no one wrote.
		if r := resolve(item); r != nil && isNull(r) {
			d.errorf(item, joinIndex(path, i), "has no value")
			continue
		}
		d.value(item, joinIndex(path, i), s.Index(i))
	}
	v.Set(s)
}

// integer parses s (decimal, 0x hexadecimal or 0o octal, with an optional
// sign) into the integer v, checking its range.
func (d *decoder) integer(n *yaml.Node, path, s string, v reflect.Value) {
	neg, mag, err := parseInt(s)
	var lo int64
	var hi uint64
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := v.Type().Bits()
		lo, hi = -1<<(bits-1), 1<<(bits-1)-1
	default:
		hi = math.MaxUint64 >> (64 - v.Type().Bits())
	}
	var i int64
	inRange := err == nil
	if inRange {
		switch {
		case neg && v.CanInt():
			// -lo is written so that it does not overflow for math.MinInt64.
			inRange = mag <= uint64(-(lo+1))+1
			i = int64(-mag) // two's complement: right for mag up to 1<<63
		case neg:
			inRange = mag == 0
		default:
			inRange = mag <= hi
		}
	}
	switch {
	case errors.Is(err, strconv.ErrSyntax):
		d.errorf(n, path, "must be an integer, not %q", shorten(s))
	case !inRange:
		d.errorf(n, path, "must be an integer from %d to %d, not %s", lo, hi, shorten(s))
	case v.CanInt():
		if !neg {
			i = int64(mag)
		}
		v.SetInt(i)
	case neg:
		v.SetUint(0) // "-0"
	default:
		v.SetUint(mag)
	}
}

// parseInt parses an integer written as decimal, 0x hexadecimal or 0o octal
// digits with an optional sign. err wraps strconv.ErrSyntax or
// strconv.ErrRange.
func parseInt(s string) (neg bool, mag uint64, err error) {
	t := s
	if len(t) > 0 && (t[0] == '-' || t[0] == '+') {
		neg = t[0] == '-'
		t = t[1:]
	}
	base := 10
	switch {
	case strings.HasPrefix(t, "0x"), strings.HasPrefix(t, "0X"):
		base, t = 16, t[2:]
	case strings.HasPrefix(t, "0o"), strings.HasPrefix(t, "0O"):
		base, t = 8, t[2:]
	}
	if t == "" || t[0] == '+' || t[0] == '-' {
		return false, 0, strconv.ErrSyntax
	}
	mag, err = strconv.ParseUint(t, base, 64)
	return neg, mag, err
}

// YAMLField is a struct field of a profile type that has a YAML key:
// the key, and the field's index for reflect.Value.FieldByIndex.
type YAMLField struct {
	Name  string
	Index []int
}

// YAMLFields lists the fields of the struct type t that have a YAML key,
// in order, as Parse reads them.
func YAMLFields(t reflect.Type) []YAMLField {
	var fs []YAMLField
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || name == "" {
			continue
		}
		fs = append(fs, YAMLField{name, f.Index})
	}
	return fs
}
