package plan

import (
	"bytes"
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// decoder reads the JSON that Encode writes, for init, which decodes one
// plan at the start of every sandbox: encoding/json analyses each of the
// sixty step types by reflection the first time it meets them and scans a
// step's args twice (once to find their end, once to decode them), which
// made the typed plan cost init more than the untyped one did. This
// decoder reads each byte once and learns only the JSON names of a
// struct's fields. It reads what the plan's types hold: objects into
// structs (an unknown field is an error: init does not skip what it does
// not understand) and map[string]string, arrays into slices, strings,
// booleans, integers, null, and the types that decode themselves (Step,
// Program) or their text (Side, Op).
type decoder struct {
	b []byte
	i int
	// fields caches, per struct type, the index of each field by its
	// JSON name; how, per type, whether it decodes itself or its text.
	fields map[reflect.Type]map[string]int
	how    map[reflect.Type]int8
}

// What a type's pointer implements (decoder.how).
const (
	plain int8 = iota + 1
	self
	text
)

// howOf says whether values of t decode themselves, their text, or
// neither.
func (d *decoder) howOf(t reflect.Type) int8 {
	if h, ok := d.how[t]; ok {
		return h
	}
	h := plain
	if t.PkgPath() != planPkg {
		// Only plan's own types decode themselves; asking the others
		// (string, uint32) would make their pointer types at run time.
		return h
	}
	switch p := reflect.PointerTo(t); {
	case p.Implements(selfDecoderType):
		h = self
	case p.Implements(textType):
		h = text
	}
	if d.how == nil {
		d.how = map[reflect.Type]int8{}
	}
	d.how[t] = h
	return h
}

// errorf is a decoding error at the current offset.
func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("plan JSON, byte %d: %s", d.i, fmt.Sprintf(format, args...))
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek returns the next byte that is not white space, 0 at the end.
func (d *decoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) expect(c byte) error {
	if d.peek() != c {
		return d.errorf("want %q", c)
	}
	d.i++
	return nil
}

// literal consumes the word w (true, false, null).
func (d *decoder) literal(w string) bool {
	if d.peek() == w[0] && bytes.HasPrefix(d.b[d.i:], []byte(w)) {
		d.i += len(w)
		return true
	}
	return false
}

// object calls f with each key of an object, the decoder at its value.
// The key's bytes are valid only during the call.
func (d *decoder) object(f func(key []byte) error) error {
	if err := d.expect('{'); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		key, err := d.key()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := f(key); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.errorf("want , or } in an object")
		}
	}
}

// key reads an object's key, without copying one that has no escape.
func (d *decoder) key() ([]byte, error) {
	if err := d.expect('"'); err != nil {
		return nil, err
	}
	start := d.i
	for d.i < len(d.b) && d.b[d.i] != '"' && d.b[d.i] != '\\' && d.b[d.i] >= 0x20 {
		d.i++
	}
	if d.i < len(d.b) && d.b[d.i] == '"' {
		d.i++
		return d.b[start : d.i-1], nil
	}
	d.i = start - 1
	s, err := d.str()
	return []byte(s), err
}

// str reads a string.
func (d *decoder) str() (string, error) {
	if err := d.expect('"'); err != nil {
		return "", err
	}
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			s := string(d.b[start:d.i])
			d.i++
			return s, nil
		}
		if c == '\\' {
			return d.escaped(start)
		}
		if c < 0x20 {
			return "", d.errorf("control character in a string")
		}
		d.i++
	}
	return "", d.errorf("unterminated string")
}

// escaped reads the rest of a string that has an escape, from start.
func (d *decoder) escaped(start int) (string, error) {
	buf := make([]byte, 0, 2*(d.i-start)+64)
	buf = append(buf, d.b[start:d.i]...)
	for d.i < len(d.b) {
		// The run of plain bytes up to the next quote or escape.
		run := d.i
		for d.i < len(d.b) && d.b[d.i] != '"' && d.b[d.i] != '\\' && d.b[d.i] >= 0x20 {
			d.i++
		}
		buf = append(buf, d.b[run:d.i]...)
		if d.i >= len(d.b) {
			break
		}
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return string(buf), nil
		case c < 0x20:
			return "", d.errorf("control character in a string")
		}
		if d.i+1 >= len(d.b) {
			break
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", d.errorf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
					d.i += 2
					lo, ok := d.hex4()
					if !ok {
						return "", d.errorf("bad \\u escape")
					}
					r2 = utf16.DecodeRune(r, lo)
				}
				r = r2
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", d.errorf("bad escape \\%c", e)
		}
	}
	return "", d.errorf("unterminated string")
}

func (d *decoder) hex4() (rune, bool) {
	if d.i+4 > len(d.b) {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r, true
}

// number returns the text of an integer.
func (d *decoder) number() (string, error) {
	d.ws()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	if d.i == start || d.i < len(d.b) && strings.IndexByte(".eE", d.b[d.i]) >= 0 {
		return "", d.errorf("want an integer")
	}
	return string(d.b[start:d.i]), nil
}

// selfDecoder is a type of plan's that reads its own JSON.
type selfDecoder interface {
	decode(d *decoder) error
}

var (
	selfDecoderType = reflect.TypeFor[selfDecoder]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
	planPkg         = reflect.TypeFor[Plan]().PkgPath()
)

// value decodes the next value into v, which must be settable.
func (d *decoder) value(v reflect.Value) error {
	if d.peek() == 'n' && d.literal("null") {
		v.SetZero()
		return nil
	}
	if v.Kind() != reflect.Pointer && v.CanAddr() {
		switch d.howOf(v.Type()) {
		case self:
			return v.Addr().Interface().(selfDecoder).decode(d)
		case text:
			s, err := d.str()
			if err != nil {
				return err
			}
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
				return d.errorf("%v", err)
			}
			return nil
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.value(v.Elem())
	case reflect.Struct:
		names := d.structFields(v.Type())
		return d.object(func(key []byte) error {
			i, ok := names[string(key)]
			if !ok {
				return d.errorf("unknown field %q of %s", key, v.Type())
			}
			return d.value(v.Field(i))
		})
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return d.errorf("cannot decode into %s", v.Type())
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		return d.object(func(key []byte) error {
			e := reflect.New(v.Type().Elem()).Elem()
			if err := d.value(e); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(string(key)).Convert(v.Type().Key()), e)
			return nil
		})
	case reflect.Slice:
		if err := d.expect('['); err != nil {
			return err
		}
		s := reflect.MakeSlice(v.Type(), 0, 4)
		if d.peek() == ']' {
			d.i++
			v.Set(s)
			return nil
		}
		for {
			s = reflect.Append(s, reflect.Zero(v.Type().Elem()))
			if err := d.value(s.Index(s.Len() - 1)); err != nil {
				return err
			}
			switch d.peek() {
			case ',':
				d.i++
			case ']':
				d.i++
				v.Set(s)
				return nil
			default:
				return d.errorf("want , or ] in an array")
			}
		}
	case reflect.String:
		s, err := d.str()
		if err != nil {
			return err
		}
		v.SetString(s)
		return nil
	case reflect.Bool:
		switch {
		case d.literal("true"):
			v.SetBool(true)
		case d.literal("false"):
			v.SetBool(false)
		default:
			return d.errorf("want true or false")
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s, err := d.number()
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return d.errorf("%s: %v", v.Type(), err)
		}
		v.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		s, err := d.number()
		if err != nil {
			return err
		}
		n, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return d.errorf("%s: %v", v.Type(), err)
		}
		v.SetUint(n)
		return nil
	case reflect.Invalid, reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128,
		reflect.Array, reflect.Chan, reflect.Func, reflect.Interface, reflect.UnsafePointer:
	}
	return d.errorf("cannot decode into %s", v.Type())
}

// structFields returns the fields of struct type t by JSON name: the
// name of its json tag, or the field's name; untagged embedded structs
// are not used by the plan's types and are refused.
func (d *decoder) structFields(t reflect.Type) map[string]int {
	if f, ok := d.fields[t]; ok {
		return f
	}
	f := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = sf.Name
		}
		f[name] = i
	}
	if d.fields == nil {
		d.fields = map[reflect.Type]map[string]int{}
	}
	d.fields[t] = f
	return f
}

// skip passes over one value without decoding it.
func (d *decoder) skip() error {
	switch c := d.peek(); {
	case c == '"':
		_, err := d.str()
		return err
	case c == '{':
		return d.object(func([]byte) error { return d.skip() })
	case c == '[':
		d.i++
		if d.peek() == ']' {
			d.i++
			return nil
		}
		for {
			if err := d.skip(); err != nil {
				return err
			}
			switch d.peek() {
			case ',':
				d.i++
			case ']':
				d.i++
				return nil
			default:
				return d.errorf("want , or ] in an array")
			}
		}
	case d.literal("true"), d.literal("false"), d.literal("null"):
		return nil
	}
	_, err := d.number()
	return err
}

// decode reads a step: its op picks the type of its args, which may come
// before the op (then they are read once the op is known).
func (s *Step) decode(d *decoder) error {
	*s = Step{}
	var op Op
	args := -1
	err := d.object(func(key []byte) error {
		switch string(key) {
		case "side":
			return d.value(reflect.ValueOf(&s.Side).Elem())
		case "op":
			return d.value(reflect.ValueOf(&op).Elem())
		case "pos":
			return d.value(reflect.ValueOf(&s.Pos).Elem())
		case "args":
			args = d.i
			if op != OpInvalid {
				return d.args(s, op)
			}
			return d.skip()
		}
		return d.errorf("unknown field %q of a step", key)
	})
	if err != nil {
		return err
	}
	if op == OpInvalid {
		return d.errorf("step at %s has no op", s.Pos)
	}
	if s.Do == nil {
		if args >= 0 { // the args came before the op
			end := d.i
			d.i = args
			err := d.args(s, op)
			d.i = end
			return err
		}
		s.Do = New(op)
	}
	return nil
}

// args reads a step's args into a new action of op.
func (d *decoder) args(s *Step, op Op) error {
	a := New(op)
	if err := d.value(reflect.ValueOf(a).Elem()); err != nil {
		return fmt.Errorf("%s step: %w", op, err)
	}
	s.Do = a
	return nil
}

// decode reads the base64 form that MarshalJSON writes.
func (p *Program) decode(d *decoder) error {
	s, err := d.str()
	if err != nil {
		return err
	}
	if err := p.fromBase64(s); err != nil {
		return d.errorf("%v", err)
	}
	return nil
}

// decodePlan decodes b, a plan of this Version, into p. The version
// comes first: the rest is not read when it is another.
func decodePlan(b []byte, p *Plan) error {
	d := &decoder{b: b}
	var w planFields
	v := reflect.ValueOf(&w).Elem()
	names := d.structFields(v.Type())
	version := -1
	err := d.object(func(key []byte) error {
		if string(key) == "version" {
			n, err := d.number()
			if err != nil {
				return err
			}
			if version, err = strconv.Atoi(n); err != nil || version != Version {
				return fmt.Errorf("plan is of version %s; this cell reads version %d", n, Version)
			}
			return nil
		}
		if version == -1 {
			return fmt.Errorf("plan has no version (or not first); this cell reads version %d", Version)
		}
		i, ok := names[string(key)]
		if !ok {
			return d.errorf("unknown field %q of a plan", key)
		}
		return d.value(v.Field(i))
	})
	if err == nil && version == -1 {
		err = fmt.Errorf("plan has no version; this cell reads version %d", Version)
	}
	if err == nil && d.peek() != 0 {
		err = d.errorf("data after the plan")
	}
	if err != nil {
		return err
	}
	*p = Plan(w)
	return nil
}
