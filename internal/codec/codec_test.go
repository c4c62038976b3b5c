package codec

import (
	"reflect"
	"strings"
	"testing"
)

type inner struct {
	// skipped is not written: it decodes as its zero value.
	skipped int
	S       string
	B       []byte
	P       *int
	A       [3]uint16
	OK      bool
}

type outer struct {
	I     int
	I8    int8
	U     uint64
	List  []inner
	Empty []string
	Nil   []string
	M     map[string]inner
	NilM  map[int]bool
	Ptr   *inner
	NoPtr *inner
	Bin   bin
}

// bin is written by its own methods, as spec.Profile is.
type bin struct{ hidden string }

func (b *bin) MarshalBinary() ([]byte, error) { return []byte("<" + b.hidden + ">"), nil }
func (b *bin) UnmarshalBinary(data []byte) error {
	b.hidden = strings.Trim(string(data), "<>")
	return nil
}

func TestRoundTrip(t *testing.T) {
	seven := 7
	in := outer{
		I: -5, I8: -128, U: 1 << 63,
		List:  []inner{{skipped: 5, S: "a", B: []byte{0, 1}, P: &seven, A: [3]uint16{1, 2, 65535}, OK: true}, {}},
		Empty: []string{},
		M:     map[string]inner{"x": {S: "y"}, "": {}},
		Ptr:   &inner{S: "p", B: []byte{}},
		Bin:   bin{"secret"},
	}
	b, err := Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	var out outer
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.List[0].skipped != 0 {
		t.Errorf("an unexported field was decoded: %d", out.List[0].skipped)
	}
	in.List[0].skipped = 0
	if !reflect.DeepEqual(in, out) {
		t.Errorf("decoded %+v, encoded %+v", out, in)
	}
	// Every cut of the input is an error, never a panic or a value.
	for i := range len(b) {
		var cut outer
		if err := Unmarshal(b[:i], &cut); err == nil {
			t.Errorf("the first %d of %d bytes decoded", i, len(b))
		}
	}
	if err := Unmarshal(append(b, 0), &out); err == nil {
		t.Error("a byte after the value: no error")
	}
}

func TestRefused(t *testing.T) {
	for _, v := range []any{
		struct{ F float64 }{1},
		struct{ I any }{1},
	} {
		if _, err := Marshal(v); err == nil {
			t.Errorf("Marshal(%#v): no error", v)
		}
	}
	var x int
	if err := Unmarshal([]byte{2}, x); err == nil {
		t.Error("Unmarshal into a value, not a pointer: no error")
	}
}
