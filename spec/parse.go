package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/cellsandbox/cell/internal/stamp"
)

// Options are the inputs of Parse besides the file.
type Options struct {
	// Vars are the values of the variables the profile may use.
	Vars Vars
	// Sets are --set KEY=VALUE overrides, applied in order after the file
	// is read. KEY is a field path such as "filesystem.mounts[0].target",
	// in which [N] indexes an existing list element and [+] appends one;
	// VALUE is YAML, so "process.args=[sh, -c, 'echo hi']" sets a list.
	Sets []string
	// Load reads a parent named in extends (see compose.go): name as
	// written, from the name of the file that names it. It returns the
	// parent's file name, used in its positions, and its YAML. Nil makes
	// extends an error.
	Load func(name, from string) (file string, data []byte, err error)
}

// Parse decodes, expands, overrides and validates one profile. file names
// data in positions; it is not opened. On failure the error is an ErrorList
// holding every error found, sorted by position, and the profile is nil.
func Parse(file string, data []byte, opts Options) (*Profile, error) {
	p := &Profile{File: file, positions: make(map[string]Pos), keys: make(map[string]Pos)}
	d := &decoder{
		file:   file,
		lines:  strings.Split(string(data), "\n"),
		sets:   opts.Sets,
		vars:   &opts.Vars,
		prof:   p,
		origin: make(map[*yaml.Node]Pos),
		failed: make(map[string]bool),
		active: make(map[*yaml.Node]bool),
		budget: maxValues,
	}
	root, errs := readDocument(data, func(line, col int) Pos { return Pos{File: file, Line: line, Col: col} })
	d.errs = append(d.errs, errs...)
	return d.parse(root, len(errs) > 0, opts)
}

// ParseNode decodes and validates a profile given as a node tree, such as
// one translated from another format (spec/oci), whose nodes carry their
// line and column in file. Strings are taken literally: no variables are
// expanded, since the source format has none, and extends is not read.
// Errors are as Parse's.
func ParseNode(file string, root *yaml.Node) (*Profile, error) {
	p := &Profile{File: file, positions: make(map[string]Pos), keys: make(map[string]Pos)}
	d := &decoder{
		file:    file,
		vars:    &Vars{},
		prof:    p,
		origin:  make(map[*yaml.Node]Pos),
		failed:  make(map[string]bool),
		active:  make(map[*yaml.Node]bool),
		budget:  maxValues,
		literal: true,
	}
	return d.parse(root, false, Options{})
}

// parse decodes root, the document read (failed says reading it failed),
// then applies opts and validates.
func (d *decoder) parse(root *yaml.Node, failed bool, opts Options) (*Profile, error) {
	file, p := d.file, d.prof
	errs := failed
	if !errs && (root == nil || isNull(root)) {
		line := 1
		if root != nil {
			line = root.Line
		}
		d.errorAt(Pos{File: file, Line: line, Col: 1}, "", "the profile is empty")
		root = nil
	}
	var via map[string]Pos
	if root != nil && !d.literal {
		root, via = d.compose(root, opts.Load)
	}
	sets := d.parseSets(opts.Sets)
	if root != nil {
		for _, s := range sets {
			root = d.apply(root, s)
		}
		d.value(root, "", reflect.ValueOf(p).Elem())
		stamp.Mark("parse")
		for _, e := range validate(p) {
			if !d.failedAt(e.Path) {
				d.errs = append(d.errs, e)
			}
		}
		stamp.Mark("validate")
	}
	if len(d.errs) > 0 {
		placeChain(d.errs, via)
		return nil, d.errs.sort(file)
	}
	return p, nil
}

// failedAt reports whether path or one of its ancestors had a decode error.
func (d *decoder) failedAt(path string) bool {
	for {
		if d.failed[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

// yamlLineRE finds the line in a yaml.v3 error message.
var yamlLineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): `) })

// readDocument parses data, which must hold at most one YAML document, and
// returns its top node, nil if there is no document. at makes a Pos from a
// line and column of data.
func readDocument(data []byte, at func(line, col int) Pos) (root *yaml.Node, errs ErrorList) {
	defer func() {
		// yaml.v3 turns its own failures into errors but has been known
		// to panic on hostile input; a profile must never crash cell.
		if r := recover(); r != nil {
			root = nil
			errs = append(errs, &Error{Pos: at(1, 1), Msg: fmt.Sprintf("invalid YAML: %v", r)})
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil, nil
	case err != nil:
		return nil, ErrorList{yamlError(err, at)}
	case len(doc.Content) == 0:
		return nil, nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
		return doc.Content[0], nil
	case err != nil:
		return nil, ErrorList{yamlError(err, at)}
	}
	return nil, ErrorList{{Pos: at(max(next.Line, 1), 1), Msg: "more than one YAML document"}}
}

// yamlError converts a yaml.v3 syntax error, which has a line at best, into
// an Error at column 1 of that line.
func yamlError(err error, at func(line, col int) Pos) *Error {
	msg := err.Error()
	line := 1
	if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			line = n
		}
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &Error{Pos: at(line, 1), Msg: "invalid YAML: " + msg}
}
