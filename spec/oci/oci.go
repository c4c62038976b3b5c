package oci

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/cellsandbox/cell/spec"
)

// ConfigName is the name of a bundle's runtime configuration.
const ConfigName = "config.json"

// Bundle reports whether path names a bundle: a file named config.json,
// or a directory that holds one. It returns the config.json path.
func Bundle(path string) (string, bool) {
	if filepath.Base(path) == ConfigName {
		return path, true
	}
	c := filepath.Join(path, ConfigName)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		if _, err := os.Stat(c); err == nil {
			return c, true
		}
	}
	return "", false
}

// Load reads the bundle at path (a directory holding config.json, or the
// config.json itself) as a profile. Relative paths in config.json (the
// rootfs, bind sources) are relative to the file's directory.
func Load(path string) (*spec.Profile, error) { return load(path, false) }

// LoadRuntime is Load for an OCI runtime: config.json's hooks are
// accepted (the runtime runs them, not the sandbox's plan). It also
// returns the warnings the runtime spec asks a runtime to log, each
// placed in config.json: what was left out because it cannot be granted
// (an ambient capability outside the inheritable or permitted set).
func LoadRuntime(path string) (*spec.Profile, []string, error) {
	c, err := read(path, true)
	if err != nil {
		return nil, nil, err
	}
	p, err := c.parse()
	return p, c.warnings, err
}

func load(path string, runtime bool) (*spec.Profile, error) {
	c, err := read(path, runtime)
	if err != nil {
		return nil, err
	}
	return c.parse()
}

// read reads the bundle's config.json into a translation not yet made.
func read(path string, runtime bool) (*conv, error) {
	file, ok := Bundle(path)
	if !ok {
		file = path
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return nil, fmt.Errorf("read bundle %s: %w", file, err)
	}
	return newConv(file, data, dir, runtime), nil
}

// Parse reads data, the text of config.json, as a profile. file names it
// in positions; dir is the bundle's directory, absolute, against which
// relative paths are resolved. On failure the error is a spec.ErrorList
// of every problem, sorted by position, each placed in config.json.
func Parse(file string, data []byte, dir string) (*spec.Profile, error) {
	return parse(file, data, dir, false)
}

func parse(file string, data []byte, dir string, runtime bool) (*spec.Profile, error) {
	return newConv(file, data, dir, runtime).parse()
}

func newConv(file string, data []byte, dir string, runtime bool) *conv {
	c := &conv{file: file, data: data, dir: dir, paths: map[string]string{}, runtime: runtime}
	if runtime || dir != "" {
		c.lstat = func(p string) (os.FileMode, error) {
			fi, err := os.Lstat(p)
			if err != nil {
				return 0, err
			}
			return fi.Mode(), nil
		}
	}
	return c
}

// parse translates the config and parses the profile it makes.
func (c *conv) parse() (*spec.Profile, error) {
	file := c.file
	root, line, col, err := readJSON(c.data)
	if err != nil {
		return nil, spec.ErrorList{{Pos: spec.Pos{File: file, Line: line, Col: col}, Msg: "invalid JSON: " + err.Error()}}
	}
	out := c.translate(root, profileName(c.dir))
	p, perr := spec.ParseNode(file, out)
	errs := c.errs
	var pl spec.ErrorList
	if errors.As(perr, &pl) {
		for _, e := range pl {
			e.Path = c.jsonPath(e.Path)
			errs = append(errs, e)
		}
	} else if perr != nil {
		return nil, perr
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *spec.Error) int {
			return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
		})
		return nil, errs
	}
	return p, nil
}

// readJSON parses data, which must be one JSON object, into its top node.
// encoding/json checks the syntax strictly (YAML would take more) and
// places an error; yaml.v3 then reads the same text, since JSON is YAML,
// keeping each value's line and column.
func readJSON(data []byte) (root *yaml.Node, line, col int, err error) {
	if err := json.Unmarshal(data, new(map[string]json.RawMessage)); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		off := int64(0)
		switch {
		case errors.As(err, &se):
			off = se.Offset
		case errors.As(err, &te):
			return nil, 1, 1, errors.New("must be a JSON object")
		}
		line, col = lineCol(data, off)
		return nil, line, col, err
	}
	defer func() {
		// yaml.v3 has been known to panic on hostile input; a bundle
		// must never crash cell.
		if r := recover(); r != nil {
			root, line, col, err = nil, 1, 1, fmt.Errorf("%v", r)
		}
	}()
	text, shifts := escapeSolidus(data)
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, 1, 1, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, 1, 1, errors.New("must be a JSON object")
	}
	if len(shifts) > 0 {
		unshift(doc.Content[0], shifts)
	}
	return doc.Content[0], 0, 0, nil
}

// escapeSolidus rewrites each "\/" in a JSON string, JSON's escaped
// solidus (Slurm's serializer writes every "/" so), which YAML 1.1 and
// yaml.v3 lack, as "\x2F", the same character in YAML. It returns the
// text and, by line, the columns (in characters, as yaml.v3 counts them)
// just after each rewrite, where the text's columns run two ahead of
// data's.
func escapeSolidus(data []byte) ([]byte, map[int][]int) {
	if !bytes.Contains(data, []byte(`\/`)) {
		return data, nil
	}
	out := make([]byte, 0, len(data)+64)
	shifts := map[int][]int{}
	line, col := 1, 1
	inString := false
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == '\n':
			line, col = line+1, 0
		case r == '"':
			inString = !inString
		case r == '\\' && inString && i+1 < len(data):
			if data[i+1] == '/' {
				out = append(out, `\x2F`...)
				col += 4
				shifts[line] = append(shifts[line], col)
				i += 2
				continue
			}
			// Any other escape is two characters the same in YAML.
			out = append(out, data[i], data[i+1])
			col += 2
			i += 2
			continue
		}
		out = append(out, data[i:i+n]...)
		col++
		i += n
	}
	return out, shifts
}

// unshift moves the nodes' columns back to data's (escapeSolidus).
func unshift(n *yaml.Node, shifts map[int][]int) {
	for _, at := range shifts[n.Line] {
		if n.Column < at {
			break
		}
		n.Column -= 2
	}
	for _, c := range n.Content {
		unshift(c, shifts)
	}
}

// lineCol returns the 1-based line and column of byte off of data
// (encoding/json's offset is just past the offending byte).
func lineCol(data []byte, off int64) (int, int) {
	off = min(max(off-1, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// profileName makes a profile name of the bundle directory's name.
func profileName(dir string) string {
	b := strings.ToLower(filepath.Base(dir))
	var s strings.Builder
	for _, r := range b {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			s.WriteRune(r)
		default:
			s.WriteByte('-')
		}
	}
	n := strings.TrimLeft(s.String(), "._-")
	if len(n) > 63 {
		n = n[:63]
	}
	if n == "" {
		return "oci-bundle"
	}
	return n
}

// conv holds one translation's state.
type conv struct {
	file, dir string
	data      []byte
	errs      spec.ErrorList
	// warnings are what was left out because it cannot be granted,
	// which the runtime spec asks a runtime to log, not fail on.
	warnings []string
	// paths maps a profile path to the JSON path it was translated from.
	paths map[string]string
	// runtime says an OCI runtime reads the bundle and runs its hooks.
	// lstat, set then and for a review of a bundle in a directory,
	// reads the rootfs (and the host's /sys, a bind's source) for
	// linux.maskedPaths and readonlyPaths outside /proc.
	runtime bool
	lstat   func(string) (os.FileMode, error)
	// rootfs is the host path of root.path.
	rootfs string
}

// errorf records an error about the JSON value n at path.
func (c *conv) errorf(n *yaml.Node, path, format string, args ...any) {
	c.errs = append(c.errs, &spec.Error{Pos: spec.Pos{File: c.file, Line: n.Line, Col: n.Column}, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// jsonPath names the JSON value a profile path came from: the JSON path
// of its nearest translated ancestor, with the profile path beside it
// when they differ.
func (c *conv) jsonPath(p string) string {
	for q := p; ; q = parent(q) {
		if j, ok := c.paths[q]; ok {
			if q == p && j == p {
				return p
			}
			return j + " (cell " + p + ")"
		}
		if q == "" {
			return p
		}
	}
}

// parent strips the last element of a profile path.
func parent(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// Reading the JSON tree.

// fields returns the members of the object n by name (the last of
// duplicates wins, as encoding/json decides), or nil and an error if n is
// not an object. A null n has no members.
func (c *conv) fields(n *yaml.Node, path string) map[string]*yaml.Node {
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		c.errorf(n, path, "must be an object")
		return nil
	}
	m := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		m[n.Content[i].Value] = n.Content[i+1]
	}
	return m
}

// items returns the elements of the array n, or nil and an error if n is
// not an array. A null n has no elements.
func (c *conv) items(n *yaml.Node, path string) []*yaml.Node {
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		c.errorf(n, path, "must be an array")
		return nil
	}
	return n.Content
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// str returns the string n; another kind of value is an error.
func (c *conv) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		c.errorf(n, path, "must be a string")
		return "", false
	}
	return n.Value, true
}

// requiredStr returns the string field key of the object at (fields f,
// path p), with its node; a missing field is an error at the object.
func (c *conv) requiredStr(at *yaml.Node, f map[string]*yaml.Node, p, key string) (*yaml.Node, string, bool) {
	n, ok := f[key]
	if !ok {
		c.errorf(at, p+"."+key, "is required")
		return nil, "", false
	}
	s, ok := c.str(n, p+"."+key)
	return n, s, ok
}

// boolean returns the boolean n.
func (c *conv) boolean(n *yaml.Node, path string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		c.errorf(n, path, "must be true or false")
		return false, false
	}
	return n.Value == "true", true
}

// integer returns the integer n, which must be from lo to hi.
func (c *conv) integer(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		c.errorf(n, path, "must be an integer")
		return 0, false
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil || v < lo || v > hi {
		c.errorf(n, path, "must be an integer from %d to %d, not %s", lo, hi, n.Value)
		return 0, false
	}
	return v, true
}

// unsigned returns the non-negative integer n, up to 1<<64-1.
func (c *conv) unsigned(n *yaml.Node, path string) (uint64, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		if v, err := strconv.ParseUint(n.Value, 10, 64); err == nil {
			return v, true
		}
	}
	c.errorf(n, path, "must be an integer from 0 to %d", uint64(1<<64-1))
	return 0, false
}

// given reports whether n holds something: not absent, null, false, 0,
// "", [] or {}.
func given(n *yaml.Node) bool {
	if n == nil {
		return false
	}
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		return len(n.Content) > 0
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return false
		case "!!bool":
			return n.Value == "true"
		case "!!int", "!!float":
			return n.Value != "0"
		case "!!str":
			return n.Value != ""
		}
	}
	return true
}

// refuse records an error for each of keys that obj holds something at.
func (c *conv) refuse(obj map[string]*yaml.Node, path string, why map[string]string) {
	keys := make([]string, 0, len(why))
	for k := range why {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if n := obj[k]; given(n) {
			c.errorf(n, join(path, k), "%s", why[k])
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// Building the profile's tree.

// node is a profile node placed where at was written.
func scalar(at *yaml.Node, tag, v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v, Line: at.Line, Column: at.Column}
}

// str is a string node, quoted: JSON's strings are strings, whatever
// YAML 1.1 would make of their words (a variable's value "off").
func str(at *yaml.Node, v string) *yaml.Node {
	n := scalar(at, "!!str", v)
	n.Style = yaml.DoubleQuotedStyle
	return n
}
func num(at *yaml.Node, v int64) *yaml.Node   { return scalar(at, "!!int", strconv.FormatInt(v, 10)) }
func unum(at *yaml.Node, v uint64) *yaml.Node { return scalar(at, "!!int", strconv.FormatUint(v, 10)) }
func flag(at *yaml.Node, v bool) *yaml.Node   { return scalar(at, "!!bool", strconv.FormatBool(v)) }

func object(at *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: at.Line, Column: at.Column}
}

func array(at *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: at.Line, Column: at.Column}
}

// set puts v at key of the mapping m.
func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	k := str(v, key)
	m.Content = append(m.Content, k, v)
}

// put sets the value at the dotted profile path p of the tree out,
// making the mappings on the way, and records the JSON path it came
// from.
func (c *conv) put(out *yaml.Node, p string, v *yaml.Node, from string) {
	parts := strings.Split(p, ".")
	m := out
	for _, k := range parts[:len(parts)-1] {
		var next *yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == k {
				next = m.Content[i+1]
			}
		}
		if next == nil {
			next = object(v)
			set(m, k, next)
		}
		m = next
	}
	set(m, parts[len(parts)-1], v)
	if from != "" {
		c.paths[p] = from
	}
}
