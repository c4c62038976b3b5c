// Package codec encodes Go values to bytes and back, for the plan cache
// (launcher): a value is written field by field in its type's order,
// with no description of the type, so a decoder needs the very type that
// encoded it (the cache's key includes the executable that wrote an
// entry). It replaces encoding/gob there: gob describes and compiles
// each type again in every process that decodes, which took a launch
// 1-1.5 ms on a plan cache hit, and its package initialisers ~0.8 ms
// in every cell process.
//
// Supported: booleans, integers, strings, slices, arrays, maps, pointers
// and structs of those, of which only exported fields are written (as gob
// and encoding/json do: a caller that needs every field compares the
// decoded value, as the plan cache does); a type whose
// pointer implements encoding.BinaryMarshaler and
// encoding.BinaryUnmarshaler is written by those methods. Floats,
// complex numbers, interfaces, functions and channels are refused. A nil
// slice, map or pointer decodes as nil, an empty one as empty, so that a
// decoded value is reflect.DeepEqual to the encoded one.
package codec

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
)

var (
	marshalerType   = reflect.TypeFor[encoding.BinaryMarshaler]()
	unmarshalerType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// Marshal encodes v, or what v points to: Unmarshal(b, &x) decodes
// what Marshal(x) or Marshal(&x) wrote.
func Marshal(v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, errors.New("codec: Marshal of a nil pointer")
		}
		rv = rv.Elem()
	}
	var e encoder
	if err := e.value(rv); err != nil {
		return nil, err
	}
	return e.b, nil
}

// Unmarshal decodes b, which Marshal wrote from a value of v's type,
// into v, a non-nil pointer. Bytes that do not decode (cut short, or not
// written from that type) are an error, never a panic.
func Unmarshal(b []byte, v any) (err error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errors.New("codec: Unmarshal needs a non-nil pointer")
	}
	d := decoder{b: b}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("codec: %v", r)
		}
	}()
	if err := d.value(rv); err != nil {
		return err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("codec: %d bytes after the value", len(d.b))
	}
	return nil
}

type encoder struct{ b []byte }

func (e *encoder) uint(n uint64) { e.b = binary.AppendUvarint(e.b, n) }

func (e *encoder) value(v reflect.Value) error {
	t := v.Type()
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(marshalerType) && reflect.PointerTo(t).Implements(unmarshalerType) {
		p := reflect.New(t)
		p.Elem().Set(v)
		b, err := p.Interface().(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return err
		}
		e.uint(uint64(len(b)))
		e.b = append(e.b, b...)
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		if v.Bool() {
			e.b = append(e.b, 1)
		} else {
			e.b = append(e.b, 0)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.b = binary.AppendVarint(e.b, v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		e.uint(v.Uint())
	case reflect.String:
		e.uint(uint64(v.Len()))
		e.b = append(e.b, v.String()...)
	case reflect.Slice:
		if v.IsNil() {
			e.uint(0)
			return nil
		}
		e.uint(uint64(v.Len()) + 1)
		if t.Elem().Kind() == reflect.Uint8 {
			e.b = append(e.b, v.Bytes()...)
			return nil
		}
		for i := range v.Len() {
			if err := e.value(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			if err := e.value(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if v.IsNil() {
			e.uint(0)
			return nil
		}
		e.uint(uint64(v.Len()) + 1)
		for it := v.MapRange(); it.Next(); {
			if err := e.value(it.Key()); err != nil {
				return err
			}
			if err := e.value(it.Value()); err != nil {
				return err
			}
		}
	case reflect.Pointer:
		if v.IsNil() {
			e.b = append(e.b, 0)
			return nil
		}
		e.b = append(e.b, 1)
		return e.value(v.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			if err := e.value(v.Field(i)); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("codec: cannot encode %s (%s)", t, t.Kind())
	}
	return nil
}

type decoder struct {
	b     []byte
	types map[reflect.Type]*typeInfo
	// strs interns the strings decoded: a profile's positions name the
	// same few files hundreds of times.
	strs map[string]string
}

// typeInfo is what decoding a type needs of reflect, looked up once per
// type (Type.Field and Implements are slow next to decoding a field).
type typeInfo struct {
	binary bool  // written by its BinaryMarshaler
	fields []int // a struct's exported fields
}

func (d *decoder) info(p reflect.Value) *typeInfo {
	t := p.Type()
	if ti, ok := d.types[t]; ok {
		return ti
	}
	ti := &typeInfo{}
	et := t.Elem()
	ti.binary = et.Kind() != reflect.Pointer && t.Implements(unmarshalerType) && t.Implements(marshalerType)
	if et.Kind() == reflect.Struct {
		for i := range et.NumField() {
			if et.Field(i).IsExported() {
				ti.fields = append(ti.fields, i)
			}
		}
	}
	if d.types == nil {
		d.types = map[reflect.Type]*typeInfo{}
	}
	d.types[t] = ti
	return ti
}

func (d *decoder) string(n int) string {
	b := d.bytes(n)
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.strs == nil {
		d.strs = map[string]string{}
	}
	if n <= 256 {
		d.strs[s] = s
	}
	return s
}

var errShort = errors.New("codec: input cut short")

func (d *decoder) uint() (uint64, error) {
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		return 0, errShort
	}
	d.b = d.b[k:]
	return n, nil
}

// count reads a length of items that take at least one byte each.
func (d *decoder) count() (int, error) {
	n, err := d.uint()
	if err == nil && n > uint64(len(d.b)) {
		err = errShort
	}
	return int(n), err
}

// optional reads the length of a slice or map: nil, or n items.
func (d *decoder) optional() (n int, isNil bool, err error) {
	m, err := d.uint()
	if err != nil || m == 0 {
		return 0, true, err
	}
	if m-1 > uint64(len(d.b)) {
		return 0, false, errShort
	}
	return int(m - 1), false, nil
}

func (d *decoder) bytes(n int) []byte {
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

// value decodes into p.Elem(); p is a pointer.
func (d *decoder) value(p reflect.Value) error {
	v := p.Elem()
	t := v.Type()
	ti := d.info(p)
	if ti.binary {
		n, err := d.count()
		if err != nil {
			return err
		}
		return p.Interface().(encoding.BinaryUnmarshaler).UnmarshalBinary(d.bytes(n))
	}
	switch t.Kind() {
	case reflect.Bool:
		if len(d.b) == 0 {
			return errShort
		}
		if d.b[0] > 1 {
			return fmt.Errorf("codec: bool %d", d.b[0])
		}
		v.SetBool(d.b[0] == 1)
		d.b = d.b[1:]
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, k := binary.Varint(d.b)
		if k <= 0 {
			return errShort
		}
		d.b = d.b[k:]
		if v.OverflowInt(n) {
			return fmt.Errorf("codec: %d overflows %s", n, t)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := d.uint()
		if err != nil {
			return err
		}
		if v.OverflowUint(n) {
			return fmt.Errorf("codec: %d overflows %s", n, t)
		}
		v.SetUint(n)
	case reflect.String:
		n, err := d.count()
		if err != nil {
			return err
		}
		v.SetString(d.string(n))
	case reflect.Slice:
		n, isNil, err := d.optional()
		if err != nil || isNil {
			return err
		}
		if t.Elem().Kind() == reflect.Uint8 {
			v.SetBytes(append(make([]byte, 0, n), d.bytes(n)...))
			return nil
		}
		s := reflect.MakeSlice(t, n, n)
		for i := range n {
			if err := d.value(s.Index(i).Addr()); err != nil {
				return err
			}
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			if err := d.value(v.Index(i).Addr()); err != nil {
				return err
			}
		}
	case reflect.Map:
		n, isNil, err := d.optional()
		if err != nil || isNil {
			return err
		}
		m := reflect.MakeMapWithSize(t, n)
		// SetMapIndex copies the key and value: one of each is reused.
		k, e := reflect.New(t.Key()), reflect.New(t.Elem())
		for range n {
			k.Elem().SetZero()
			e.Elem().SetZero()
			if err := d.value(k); err != nil {
				return err
			}
			if err := d.value(e); err != nil {
				return err
			}
			m.SetMapIndex(k.Elem(), e.Elem())
		}
		v.Set(m)
	case reflect.Pointer:
		if len(d.b) == 0 {
			return errShort
		}
		set := d.b[0]
		d.b = d.b[1:]
		switch set {
		case 0:
			v.SetZero()
			return nil
		case 1:
		default:
			return fmt.Errorf("codec: pointer flag %d", set)
		}
		e := reflect.New(t.Elem())
		if err := d.value(e); err != nil {
			return err
		}
		v.Set(e)
	case reflect.Struct:
		for _, i := range ti.fields {
			if err := d.value(v.Field(i).Addr()); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("codec: cannot decode %s (%s)", t, t.Kind())
	}
	return nil
}
