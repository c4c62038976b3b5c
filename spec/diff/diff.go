// Package diff compares two resolved profiles value by value and says of
// each change whether it widens what the sandboxed command can reach,
// narrows it, or neither, so that a review cannot miss a widening.
//
// Values are compared by identity, not by position: mounts by target,
// environment variables and rlimits by name, lists of names (passEnv,
// capabilities, groups) as sets, process.args as one value. A mount that
// is added or removed is one change; a mount present in both is compared
// field by field. Every change carries the position of the value in each
// file (Profile.At), or of the list it would be in when it is absent from
// one of them.
//
// Classification is a table of rules keyed by field path (classify.go); a
// field with no rule is reported as neutral with the reason "unclassified"
// and a test fails until it has one. Lines is a line diff, for the
// compiled plans the CLI adds to a Report. The package does no host I/O.
package diff

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cellsandbox/cell/spec"
)

// Class says which way a change moves the sandbox's boundary.
type Class uint8

// The classes. Neutral changes neither widen nor narrow what the command
// can reach.
const (
	Neutral Class = iota
	Narrows
	Widens
)

// Classes lists every Class.
var Classes = []Class{Neutral, Narrows, Widens}

// String returns "neutral", "narrows" or "widens".
func (c Class) String() string {
	switch c {
	case Neutral:
		return "neutral"
	case Narrows:
		return "narrows"
	case Widens:
		return "widens"
	}
	return fmt.Sprintf("Class(%d)", uint8(c))
}

// MarshalText prints the name.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Kind says whether a value was added, removed or changed.
type Kind uint8

// The kinds of change.
const (
	Changed Kind = iota
	Added
	Removed
)

// String returns "changed", "added" or "removed".
func (k Kind) String() string {
	switch k {
	case Changed:
		return "changed"
	case Added:
		return "added"
	case Removed:
		return "removed"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// MarshalText prints the name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Change is one difference between the old and the new profile.
type Change struct {
	// Key identifies the value in both profiles: a field path in which
	// list elements are named by their identity, such as
	// "filesystem.mounts[/etc].writable" or "process.passEnv[TERM]".
	Key string `json:"key"`
	// Kind says whether the value was added, removed or changed.
	Kind Kind `json:"kind"`
	// Class says which way the change moves the boundary.
	Class Class `json:"class"`
	// Old and New are the values, printed as in YAML; "" when absent.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	// OldPos and NewPos are where the value is, or would be, in each file.
	OldPos spec.Pos `json:"oldPos"`
	NewPos spec.Pos `json:"newPos"`
	// Why says what the change means for the command.
	Why string `json:"why"`
}

// String formats the change on one line: "widens filesystem.mounts[/etc].writable:
// (unset) -> true: ...".
func (c Change) String() string {
	return fmt.Sprintf("%s %s: %s -> %s: %s", c.Class, c.Key, show(c.Old), show(c.New), c.Why)
}

// show prints a value, "(unset)" for an absent one.
func show(v string) string {
	if v == "" {
		return "(unset)"
	}
	return v
}

// Report is the difference between two profiles, and between the plans
// compiled from them when the caller adds them.
type Report struct {
	// Old and New are the files the profiles were read from.
	Old string `json:"old"`
	New string `json:"new"`
	// Changes are in the order of the new file, removed values last.
	Changes []Change `json:"changes"`
	// Plan is the line diff of the compiled plans; nil when they were not
	// compiled.
	Plan []Line `json:"plan,omitempty"`
}

// Count returns the number of changes of class c.
func (r *Report) Count(c Class) int {
	n := 0
	for _, ch := range r.Changes {
		if ch.Class == c {
			n++
		}
	}
	return n
}

// Profiles compares two resolved profiles.
func Profiles(old, new *spec.Profile) *Report {
	a, b := flatten(old), flatten(new)
	var changes []Change
	for _, e := range b.entries {
		if b.groups[e.group].key != "" && !a.has(e.group) {
			continue // the whole group is added
		}
		o, ok := a.get(e.key)
		switch {
		case !ok:
			changes = append(changes, change(old, new, Added, nil, &e, a, b))
		case o.value != e.value:
			changes = append(changes, change(old, new, Changed, o, &e, a, b))
		}
	}
	for _, e := range a.entries {
		if a.groups[e.group].key != "" && !b.has(e.group) {
			continue
		}
		if _, ok := b.get(e.key); !ok {
			changes = append(changes, change(old, new, Removed, &e, nil, a, b))
		}
	}
	for _, g := range b.groupOrder {
		if !a.has(g) && !b.insideMissing(g, a) {
			ng := b.groups[g]
			changes = append(changes, groupChange(old, new, Added, nil, &ng, a))
		}
	}
	for _, g := range a.groupOrder {
		if !b.has(g) && !a.insideMissing(g, b) {
			og := a.groups[g]
			changes = append(changes, groupChange(old, new, Removed, &og, nil, b))
		}
	}
	slices.SortStableFunc(changes, func(x, y Change) int {
		xr, yr := x.Kind == Removed, y.Kind == Removed
		if xr != yr {
			return boolCmp(xr, yr)
		}
		if xr {
			return posCmp(x.OldPos, y.OldPos)
		}
		return posCmp(x.NewPos, y.NewPos)
	})
	if changes == nil {
		changes = []Change{}
	}
	return &Report{Old: old.File, New: new.File, Changes: changes}
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func posCmp(a, b spec.Pos) int {
	return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
}

// change makes the Change of one entry, o in the old profile and n in the
// new, either nil when absent.
func change(old, new *spec.Profile, k Kind, o, n *entry, a, b *flat) Change {
	c := Change{Kind: k}
	var oldAt, newAt string
	switch {
	case o != nil && n != nil:
		c.Key, c.Old, c.New, oldAt, newAt = n.key, o.value, n.value, o.at, n.at
	case n != nil:
		c.Key, c.New, newAt = n.key, n.value, n.at
		oldAt = a.counterpart(n, b)
	default:
		c.Key, c.Old, oldAt = o.key, o.value, o.at
		newAt = b.counterpart(o, a)
	}
	c.OldPos, c.NewPos = old.At(oldAt), new.At(newAt)
	c.Class, c.Why = classify(&c, pattern(c.Key), old, new)
	return c
}

// groupChange makes the Change of a group (a list element or map entry
// with fields) present in one profile only.
func groupChange(old, new *spec.Profile, k Kind, o, n *group, other *flat) Change {
	c := Change{Kind: k}
	if n != nil {
		c.Key, c.New = n.key, n.summary
		c.NewPos, c.OldPos = new.At(n.at), old.At(listPath(n.at))
	} else {
		c.Key, c.Old = o.key, o.summary
		c.OldPos, c.NewPos = old.At(o.at), new.At(listPath(o.at))
	}
	c.Class, c.Why = classify(&c, pattern(c.Key), old, new)
	return c
}

// listPath strips the last index from a field path: the list an element
// would be in.
func listPath(at string) string {
	if i := strings.LastIndexByte(at, '['); i >= 0 {
		return at[:i]
	}
	return at
}

// entry is one scalar value of a profile.
type entry struct {
	// key identifies the value across profiles.
	key string
	// at is its field path in its own profile, for Profile.At.
	at string
	// value is the value printed as in YAML.
	value string
	// group is the key of the list element or map entry it belongs to,
	// or "".
	group string
}

// group is a list element or map entry that has fields, such as a mount.
type group struct {
	key, at, summary string
}

// flat is a profile as a list of entries.
type flat struct {
	// p is the profile, to tell written zero values from absent ones;
	// nil for a summary.
	p          *spec.Profile
	entries    []entry
	byKey      map[string]int
	groups     map[string]group
	groupOrder []string
}

func (f *flat) get(key string) (*entry, bool) {
	i, ok := f.byKey[key]
	if !ok {
		return nil, false
	}
	return &f.entries[i], true
}

func (f *flat) has(group string) bool {
	_, ok := f.groups[group]
	return ok
}

// insideMissing reports whether the group g of f is inside another group
// of f that other lacks: the outer group's change says it all.
func (f *flat) insideMissing(g string, other *flat) bool {
	for _, k := range f.groupOrder {
		if k != g && strings.HasPrefix(g, k) && strings.ContainsRune(".[", rune(g[len(k)])) && !other.has(k) {
			return true
		}
	}
	return false
}

// counterpart returns the field path in f where e of other would be:
// under the same group when f has it, else at the list or map that holds
// it.
func (f *flat) counterpart(e *entry, other *flat) string {
	if e.group != "" {
		if g, ok := f.groups[e.group]; ok {
			og := other.groups[e.group]
			return g.at + strings.TrimPrefix(e.at, og.at)
		}
	}
	return listPath(e.at)
}

// flatten lists the values of p.
func flatten(p *spec.Profile) *flat {
	f := &flat{p: p, byKey: make(map[string]int), groups: make(map[string]group)}
	f.walk(reflect.ValueOf(p).Elem(), "", "", "", false)
	return f
}

var (
	stringerType    = reflect.TypeFor[fmt.Stringer]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	// enumTypes are the types whose zero value is a choice worth showing.
	enumTypes = []reflect.Type{reflect.TypeFor[spec.Share](), reflect.TypeFor[spec.NetMode]()}
)

// ordered are the lists whose order matters: compared as one value.
var ordered = []string{"process.args"}

// identity returns the name of list element v of the list at key, for
// lists of structs whose elements have one; ok is false for lists matched
// by index.
func identity(key string, v reflect.Value) (string, bool) {
	switch m := v.Interface().(type) {
	case spec.Mount:
		return m.Target, m.Target != ""
	}
	if f := v.FieldByName("Path"); f.IsValid() && f.Kind() == reflect.String && f.String() != "" {
		return f.String(), true
	}
	return "", false
}

// add records one entry.
func (f *flat) add(key, at, value, grp string) {
	if _, dup := f.byKey[key]; dup {
		key += "#" + at // two elements with one identity: keep both
	}
	f.byKey[key] = len(f.entries)
	f.entries = append(f.entries, entry{key: key, at: at, value: value, group: grp})
}

// walk adds the values under v, at identity key and field path at, in
// group grp. force keeps a zero value (one a pointer points to).
func (f *flat) walk(v reflect.Value, key, at, grp string, force bool) {
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		f.walk(v.Elem(), key, at, grp, true)
		return
	}
	if isLeaf(t) {
		if v.IsZero() && !force && !slices.Contains(enumTypes, t) && !f.p.Given(at) {
			return
		}
		f.add(key, at, scalar(v), grp)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		for _, fl := range spec.YAMLFields(t) {
			f.walk(v.FieldByIndex(fl.Index), join(key, fl.Name), join(at, fl.Name), grp, false)
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.String(), b.String()) })
		for _, k := range keys {
			ek, ea := join(key, k.String()), join(at, k.String())
			ev := v.MapIndex(k)
			if !isLeaf(ev.Type()) {
				f.addGroup(ek, ea, ev)
				f.walk(ev, ek, ea, ek, true)
				continue
			}
			f.walk(ev, ek, ea, grp, true)
		}
	case reflect.Slice:
		et := t.Elem()
		if isLeaf(et) {
			if slices.Contains(ordered, key) {
				if v.Len() > 0 {
					f.add(key, at, scalar(v), grp)
				}
				return
			}
			for i := range v.Len() {
				s := scalar(v.Index(i))
				f.walk(v.Index(i), key+"["+s+"]", fmt.Sprintf("%s[%d]", at, i), grp, true)
			}
			return
		}
		for i := range v.Len() {
			ev := v.Index(i)
			id, ok := identity(key, ev)
			if !ok {
				id = fmt.Sprint(i)
			}
			ek, ea := key+"["+id+"]", fmt.Sprintf("%s[%d]", at, i)
			f.addGroup(ek, ea, ev)
			f.walk(ev, ek, ea, ek, false)
		}
	default:
		f.add(key, at, scalar(v), grp)
	}
}

// addGroup records a list element or map entry with fields.
func (f *flat) addGroup(key, at string, v reflect.Value) {
	if _, dup := f.groups[key]; dup {
		return
	}
	f.groups[key] = group{key: key, at: at, summary: summary(v)}
	f.groupOrder = append(f.groupOrder, key)
}

// isLeaf reports whether values of t are printed as one scalar: basic
// kinds, types with a String method or their own YAML decoding, and lists
// are not.
func isLeaf(t reflect.Type) bool {
	if t.Implements(stringerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface:
		return false
	}
	return true
}

// scalar prints v as in YAML.
func scalar(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Type().Implements(stringerType) {
		return v.Interface().(fmt.Stringer).String()
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = scalar(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// summary prints a group's fields as a flow mapping: "{type: bind,
// source: /etc, target: /etc}".
func summary(v reflect.Value) string {
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return scalar(v)
	}
	sub := &flat{byKey: make(map[string]int), groups: make(map[string]group)}
	sub.walk(v, "", "", "", false)
	parts := make([]string, 0, len(sub.entries))
	for _, e := range sub.entries {
		parts = append(parts, e.key+": "+e.value)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// pattern replaces the identities in key with "*":
// "filesystem.mounts[/etc].writable" gives "filesystem.mounts[*].writable".
// Map keys stay, as they name fields ("process.env.PATH").
func pattern(key string) string {
	var b strings.Builder
	depth := 0
	for _, r := range key {
		switch {
		case r == '[':
			if depth == 0 {
				b.WriteString("[*")
			}
			depth++
		case r == ']':
			depth--
			if depth == 0 {
				b.WriteByte(']')
			}
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}
